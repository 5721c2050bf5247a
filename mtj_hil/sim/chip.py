"""SimulatedChip: the Chip interface served from a simulated die, in process."""

from __future__ import annotations

from typing import Any

import numpy as np

from mtj_hil.instruments.safety import SafetyEnvelope
from mtj_hil.protocols.chip import (
    CellState,
    Layout,
    Pulse,
    cell_mask,
    cell_state,
    check_array,
    check_voltage_range,
    checked_pulse,
    read_voltages_unscanned,
)
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.sim.die import SimulatedDie, make_die
from mtj_hil.sim.profile import DeviceProfile, as_dict, load_profile


def envelope_for(layout: Layout) -> SafetyEnvelope:
    """The safety envelope that follows from a die's limits."""
    lim = layout.limits
    return SafetyEnvelope(
        max_read_voltage=lim.max_read_voltage,
        min_pulse_amplitude=lim.min_pulse_amplitude,
        max_pulse_amplitude=lim.max_pulse_amplitude,
        min_pulse_width=lim.min_pulse_width,
        max_pulse_width=lim.max_pulse_width,
    )


class SimulatedChip:
    """A simulated die behind the :class:`mtj_hil.protocols.chip.Chip` interface.

    Every request is validated (address, shape, dtype) and checked against the safety
    envelope before it reaches the physics, exactly as the hardware backend does.

    Args:
        die: the simulated die to serve.
        label: a name for provenance records (e.g. ``"lot 0 / die 7"``).
    """

    def __init__(self, die: SimulatedDie, label: str = "simulated die") -> None:
        self.die = die
        self.label = label
        self._layout = die.profile.layout
        self.envelope = envelope_for(self._layout)
        self.program_calls = 0
        self.read_calls = 0
        self.vectors_read = 0
        self.closed = False

    @classmethod
    def from_lot(
        cls, profile: DeviceProfile | str = "1t1r-20k", lot_seed: int = 0, die_index: int = 0
    ) -> SimulatedChip:
        """Die ``die_index`` of simulated lot ``lot_seed`` with the given profile (name or object)."""
        prof = load_profile(profile) if isinstance(profile, str) else profile
        return cls(make_die(prof, lot_seed, die_index), label=f"lot {lot_seed} / die {die_index}")

    @property
    def clock(self) -> float:
        """The die's simulated time (s): advanced by every read vector and program call; the
        die's temperature drift and telegraph noise run on it."""
        return float(self.die.clock)

    @property
    def layout(self) -> Layout:
        return self._layout

    def _check_open(self) -> None:
        if self.closed:
            raise InvalidRequest("this chip has been closed")

    def program(self, array: int, cells: np.ndarray, state: CellState, pulse: Pulse) -> None:
        """Apply one write pulse towards ``state`` to the selected cells (see Chip.program).

        Raises:
            InvalidRequest: bad array index, cell selection or state.
            SafetyViolation: pulse amplitude or width outside the die's limits.
        """
        self._check_open()
        array = check_array(self._layout, array)
        mask = cell_mask(self._layout, cells)
        state = cell_state(state)
        pulse = checked_pulse(pulse)
        self.envelope.check_pulse(pulse.amplitude, pulse.width)
        self.program_calls += 1
        if mask.any():
            self.die.apply_pulse(array, mask, state, abs(pulse.amplitude), pulse.width)

    def read(self, array: int, voltages: np.ndarray) -> np.ndarray:
        """Output-line currents (A) for input-line voltages (V) (see Chip.read).

        With a modelled converter (``read.adc_bits``), a reading at the end of its range
        comes back as +inf / -inf (overflow), never as a clipped number.

        Raises:
            InvalidRequest: bad array index, shape or dtype.
            SafetyViolation: a voltage above the die's read limit.
        """
        self._check_open()
        array = check_array(self._layout, array)
        v = read_voltages_unscanned(self._layout, voltages)
        currents = self.die.read(array, v, self._check_range)
        self.read_calls += 1
        self.vectors_read += v.shape[0]
        rd = self.die.profile.read
        if rd.adc_bits:
            # A converter at the end of its range reports overflow, not a clipped number.
            lsb = 2.0 * rd.adc_full_scale / 2**rd.adc_bits
            currents[currents >= rd.adc_full_scale - lsb] = np.inf
            currents[currents <= -rd.adc_full_scale] = -np.inf
        return currents

    def _check_range(self, lowest: float, highest: float) -> None:
        """Refuse a batch with a non-finite voltage or one outside the envelope (V)."""
        check_voltage_range(lowest, highest)
        self.envelope.check_read_range(lowest, highest)

    def describe(self) -> dict[str, Any]:
        """Provenance: backend, label, seed and the full device profile."""
        return {
            "backend": "simulated",
            "label": self.label,
            "seed_entropy": str(self.die.seed_entropy),
            "seed_spawn_key": list(self.die.seed_spawn_key),
            "profile": as_dict(self.die.profile),
            "layout": self._layout.as_dict(),
            "safety_envelope": self.envelope.as_dict(),
        }

    def close(self) -> None:
        self.closed = True

    def __enter__(self) -> SimulatedChip:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
