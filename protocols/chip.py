"""The Chip interface: the seam between measurement procedures and a die.

Everything in :mod:`protocols` talks to a die only through :class:`Chip`. A simulated die
(``mtj_hil.sim.SimulatedChip``) and a real one behind instruments
(``mtj_hil.station.chip.InstrumentChip``) implement it identically, so a procedure written here
runs on either. All quantities are SI: volts, amperes, siemens, seconds.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from enum import IntEnum
from typing import Any, Literal, Protocol, runtime_checkable

import numpy as np

from mtj_hil.errors import apart
from mtj_hil.protocols.errors import InvalidRequest, OutsideLimits
from mtj_hil.protocols.plan_values import is_real

CellType = Literal["1T1R", "passive"]


class CellState(IntEnum):
    """Magnetic state a write pulse drives a device to.

    ``P`` (parallel) is the low-resistance state and stores bit 1; ``AP`` (antiparallel) is
    the high-resistance state and stores bit 0.
    """

    AP = 0
    P = 1


@dataclass(frozen=True)
class Pulse:
    """A write pulse: amplitude (V, magnitude; polarity follows the target state), width (s)."""

    amplitude: float
    width: float


@dataclass(frozen=True)
class Limits:
    """What the die accepts without harm (from its profile or station file).

    Attributes:
        max_read_voltage: largest magnitude allowed on an input line during a read (V).
        min_pulse_amplitude: smallest write pulse amplitude the driver can produce (V).
        max_pulse_amplitude: largest write pulse amplitude allowed across a device (V).
        min_pulse_width: shortest write pulse (s).
        max_pulse_width: longest write pulse (s).
        voltage_step: resolution (V) the bench sets read voltages and pulse amplitudes
            with; 0 (a simulated die): any voltage.
        width_digits: significant digits the bench sets a pulse width with; 0: any width.
    """

    max_read_voltage: float
    min_pulse_amplitude: float
    max_pulse_amplitude: float
    min_pulse_width: float
    max_pulse_width: float
    voltage_step: float = 0.0
    width_digits: int = 0


BENCH_RESOLUTION = ("voltage_step", "width_digits")
"""The :class:`Limits` fields that describe the bench, not the die: left out of a die
profile, and out of a layout's record while 0 (any value)."""


@dataclass(frozen=True)
class Layout:
    """Geometry and nominal figures of a die.

    Attributes:
        n_arrays: number of crossbar arrays on the die.
        rows: input lines per array (voltages are applied here).
        cols: output lines per array (currents are sensed here).
        cell: ``"1T1R"`` (one transistor, one MTJ per cell) or ``"passive"``.
        limits: the safe operating limits.
        nominal_g_p: typical parallel-state conductance (S), for default thresholds.
        nominal_g_ap: typical antiparallel-state conductance (S).
        nominal_pulse: the write pulse the die's maker recommends.
    """

    n_arrays: int
    rows: int
    cols: int
    cell: CellType
    limits: Limits
    nominal_g_p: float
    nominal_g_ap: float
    nominal_pulse: Pulse

    @property
    def n_devices(self) -> int:
        """Total number of devices on the die."""
        return self.n_arrays * self.rows * self.cols

    @property
    def threshold_g(self) -> float:
        """Conductance (S) halfway (geometric mean) between nominal P and AP states."""
        return float(np.sqrt(self.nominal_g_p * self.nominal_g_ap))

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form for provenance records (a bench resolution of 0, any value, is
        left out: the record of a simulated die is what it always was)."""
        record = asdict(self)
        for key in BENCH_RESOLUTION:
            if not record["limits"][key]:
                del record["limits"][key]
        return record


@runtime_checkable
class Chip(Protocol):
    """A die that can be programmed and read, one array at a time, in batches.

    Implementations validate every request (address, shape, dtype, limits) before anything
    reaches a device and raise :class:`mtj_hil.protocols.errors.InvalidRequest` (bad shape or
    address) or the instrument layer's ``SafetyViolation`` (outside the safe envelope).
    """

    @property
    def layout(self) -> Layout: ...

    def program(self, array: int, cells: np.ndarray, state: CellState, pulse: Pulse) -> None:
        """Apply one write pulse towards ``state`` to the selected cells of ``array``.

        ``cells`` is a boolean mask of shape ``(rows, cols)`` or an integer index list of
        shape ``(n, 2)`` of (row, col) pairs. Nothing is returned: read to learn the outcome.
        """
        ...

    def read(self, array: int, voltages: np.ndarray) -> np.ndarray:
        """Apply input-line voltages (V, shape ``(batch, rows)``) and return output-line
        currents (A, shape ``(batch, cols)``). A reading beyond the converter's range comes
        back as +inf / -inf (or the backend raises), never as a silently clipped number; a
        reading the instrument could not make is NaN."""
        ...

    def describe(self) -> dict[str, Any]:
        """A JSON-serialisable snapshot of everything that identifies this chip and its setup."""
        ...

    def close(self) -> None:
        """Release the die (outputs off, ports closed). Safe to call twice."""
        ...

    def __enter__(self) -> Chip: ...

    def __exit__(self, *exc: object) -> None: ...


def check_array(layout: Layout, array: int) -> int:
    """Return ``array`` as an int, or raise InvalidRequest if it is not on the die."""
    if isinstance(array, bool) or not isinstance(array, int | np.integer):
        raise InvalidRequest(f"array index must be an integer, got {type(array).__name__}")
    if not 0 <= int(array) < layout.n_arrays:
        raise InvalidRequest(f"array {array} is not on this die; allowed 0..{layout.n_arrays - 1}")
    return int(array)


def cell_state(state: Any) -> CellState:
    """``state`` as a :class:`CellState` (a CellState or the integer 0 or 1).

    Raises:
        InvalidRequest: anything else (``True`` or ``1.0`` are not states).
    """
    if isinstance(state, bool) or not isinstance(state, int | np.integer):
        raise InvalidRequest(f"state must be CellState.P or CellState.AP, got {state!r}")
    try:
        return CellState(state)
    except ValueError:
        raise InvalidRequest(f"state must be CellState.P or CellState.AP, got {state!r}") from None


def checked_pulse(pulse: Any, refusal: str = "pulse must be Pulse(amplitude V, width s)") -> Pulse:
    """``pulse`` if it is a :class:`Pulse` of real numbers (amplitude V, width s).

    Raises:
        InvalidRequest: anything else (``refusal``, then what was given).
    """
    if not (isinstance(pulse, Pulse) and is_real(pulse.amplitude) and is_real(pulse.width)):
        raise InvalidRequest(f"{refusal}, got {pulse!r}")
    return pulse


def cell_mask(layout: Layout, cells: np.ndarray) -> np.ndarray:
    """Normalise a cell selection to a boolean mask of shape ``(rows, cols)``.

    Accepts a boolean mask of that shape, or integer (row, col) pairs of shape ``(n, 2)``.

    Raises:
        InvalidRequest: wrong dtype, wrong shape, or an index outside the array.
    """
    sel = np.asarray(cells)
    shape = (layout.rows, layout.cols)
    if sel.dtype == bool:
        if sel.shape != shape:
            raise InvalidRequest(f"cell mask has shape {sel.shape}; expected {shape}")
        return sel
    if not np.issubdtype(sel.dtype, np.integer):
        raise InvalidRequest(
            f"cells must be a boolean mask {shape} or integer (row, col) pairs, got dtype {sel.dtype}"
        )
    if sel.ndim != 2 or sel.shape[1] != 2:
        raise InvalidRequest(f"cell index list has shape {sel.shape}; expected (n, 2)")
    if sel.size == 0:
        return np.zeros(shape, dtype=bool)
    rows, cols = sel[:, 0], sel[:, 1]
    if rows.min() < 0 or rows.max() >= layout.rows or cols.min() < 0 or cols.max() >= layout.cols:
        raise InvalidRequest(
            f"cell index outside the array; rows 0..{layout.rows - 1}, cols 0..{layout.cols - 1}"
        )
    mask = np.zeros(shape, dtype=bool)
    mask[rows, cols] = True
    return mask


def read_voltages(layout: Layout, voltages: np.ndarray) -> np.ndarray:
    """Validate input-line voltages and return them as float64 of shape ``(batch, rows)``.

    A single vector of shape ``(rows,)`` is accepted as a batch of one.

    Raises:
        InvalidRequest: wrong shape, non-numeric dtype or non-finite values.
    """
    v = read_voltages_unscanned(layout, voltages)
    if v.size:
        check_voltage_range(float(v.min()), float(v.max()))
    return v


def read_voltages_unscanned(layout: Layout, voltages: np.ndarray) -> np.ndarray:
    """:func:`read_voltages` without looking at the values (dtype and shape only): for a
    backend that scans the batch anyway and calls :func:`check_voltage_range` itself.

    Raises:
        InvalidRequest: wrong shape or non-numeric dtype.
    """
    v = np.asarray(voltages)
    if v.dtype != np.float64:  # (float64, the usual case, needs no dtype checks)
        if v.dtype == bool or not (
            np.issubdtype(v.dtype, np.floating) or np.issubdtype(v.dtype, np.integer)
        ):
            raise InvalidRequest(f"voltages must be a real numeric array, got dtype {v.dtype}")
        v = v.astype(np.float64)
    if v.ndim == 1:
        v = v[None, :]
    if v.ndim != 2 or v.shape[1] != layout.rows:
        raise InvalidRequest(
            f"voltages have shape {np.shape(voltages)}; expected (batch, {layout.rows})"
        )
    return v


def check_voltage_range(lowest: float, highest: float) -> None:
    """Refuse a batch whose smallest or largest voltage (V) is NaN or infinite.

    Raises:
        InvalidRequest: a voltage is NaN or infinite.
    """
    if not (math.isfinite(highest) and math.isfinite(lowest)):
        raise InvalidRequest("voltages contain NaN or infinity")


def check_write_pulse(layout: Layout, pulse: Pulse | None, name: str = "pulse") -> Pulse:
    """``pulse`` (None: the die's nominal pulse, ``layout.nominal_pulse``), refused unless its
    amplitude (V, a magnitude: never negative) and width (s) lie within the die's limits. A station's
    ``[safety]`` may be tighter than the die's nominal pulse; the plan then needs its own.

    Raises:
        OutsideLimits (an ``InvalidRequest``): naming ``name`` (or the nominal pulse), the
            value and the limits; nothing is applied.
    """
    lim = layout.limits
    chosen = layout.nominal_pulse if pulse is None else pulse
    if pulse is None:
        label, verb = f"the die's nominal write pulse (the {name} when none is given) has", ","
    else:
        label, verb = name, " lies"
    checked_pulse(chosen, f"{name} must be a Pulse(amplitude V, width s) of numbers")
    amp, width = chosen.amplitude, chosen.width  # a magnitude: a negative one is refused
    if not lim.min_pulse_amplitude <= amp <= lim.max_pulse_amplitude:
        value, lo, hi = apart(amp, lim.min_pulse_amplitude, lim.max_pulse_amplitude)
        raise OutsideLimits(
            f"{label} amplitude {value} V{verb} outside the safety envelope "
            f"({lo}..{hi} V); nothing applied"
        )
    if not lim.min_pulse_width <= width <= lim.max_pulse_width:
        value, lo, hi = apart(width, lim.min_pulse_width, lim.max_pulse_width)
        raise OutsideLimits(
            f"{label} width {value} s{verb} outside the safety envelope "
            f"({lo}..{hi} s); nothing applied"
        )
    return chosen
