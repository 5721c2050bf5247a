"""The safety envelope: limits every voltage, pulse and current must respect.

Checked in our own code before anything is sent to an instrument, never left to vendor
firmware. A whole plan (every pulse of a weight write, every read of a map) is checked
before its first command goes out.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mtj_hil.errors import apart
from mtj_hil.instruments.errors import SafetyViolation


@dataclass(frozen=True)
class SafetyEnvelope:
    """Hard limits for one station and device type (SI units).

    Attributes:
        max_read_voltage: largest |V| on any line during a read (V).
        min_pulse_amplitude: smallest write-pulse amplitude (V).
        max_pulse_amplitude: largest write-pulse amplitude across a device (V).
        min_pulse_width: shortest write pulse (s).
        max_pulse_width: longest write pulse (s).
        compliance_current: current limit set on every source (A).
        max_ramp_rate: fastest allowed change of a DC source voltage (V/s).
    """

    max_read_voltage: float
    min_pulse_amplitude: float
    max_pulse_amplitude: float
    min_pulse_width: float
    max_pulse_width: float
    compliance_current: float = 10e-3
    max_ramp_rate: float = 10.0

    def __post_init__(self) -> None:
        for name, value in asdict(self).items():
            if not np.isfinite(value) or value <= 0:
                raise SafetyViolation(
                    f"safety envelope {name} must be a positive number, got {value}"
                )
        if self.min_pulse_amplitude > self.max_pulse_amplitude:
            raise SafetyViolation(
                "safety envelope: min_pulse_amplitude exceeds max_pulse_amplitude"
            )
        if self.min_pulse_width > self.max_pulse_width:
            raise SafetyViolation("safety envelope: min_pulse_width exceeds max_pulse_width")

    def check_pulse(self, amplitude: float, width: float) -> None:
        """Raise SafetyViolation unless a pulse of ``amplitude`` (V) and ``width`` (s) is allowed."""
        a, w = abs(float(amplitude)), float(width)
        if (
            self.min_pulse_amplitude <= a <= self.max_pulse_amplitude
            and self.min_pulse_width <= w <= self.max_pulse_width
        ):
            return  # NaN fails every comparison and takes the path below
        self.check_pulses(np.asarray([amplitude]), np.asarray([width]))

    def check_pulses(self, amplitudes: np.ndarray, widths: np.ndarray) -> None:
        """Check a whole plan of pulses at once (V and s, any shape); raise on the first bad one."""
        amps = np.abs(np.asarray(amplitudes, dtype=float))
        wid = np.asarray(widths, dtype=float)
        bad = (
            ~np.isfinite(amps)
            | (amps < self.min_pulse_amplitude)
            | (amps > self.max_pulse_amplitude)
        )
        if bad.any():
            value, lo, hi = apart(
                amps[bad].flat[0], self.min_pulse_amplitude, self.max_pulse_amplitude, spec=".4g"
            )
            raise SafetyViolation(
                f"pulse amplitude {value} V is outside the safe range {lo}..{hi} V"
            )
        bad = ~np.isfinite(wid) | (wid < self.min_pulse_width) | (wid > self.max_pulse_width)
        if bad.any():
            value, lo, hi = apart(
                wid[bad].flat[0], self.min_pulse_width, self.max_pulse_width, spec=".4g"
            )
            raise SafetyViolation(f"pulse width {value} s is outside the safe range {lo}..{hi} s")

    def check_read_voltages(self, voltages: np.ndarray) -> None:
        """Raise SafetyViolation if any read voltage (V) exceeds ``max_read_voltage`` in magnitude
        or is not a finite number."""
        v = np.asarray(voltages, dtype=float)
        if v.size == 0:
            return
        self.check_read_range(float(v.min()), float(v.max()))

    def check_read_range(self, lowest: float, highest: float) -> None:
        """:meth:`check_read_voltages` for a batch whose smallest and largest voltages (V)
        are already known."""
        ends = (abs(float(lowest)), abs(float(highest)))
        if not (ends[0] <= self.max_read_voltage and ends[1] <= self.max_read_voltage):
            # each end compared on its own: max() keeps a finite first end over a NaN second
            peak = math.nan if math.isnan(sum(ends)) else max(ends)
            shown, limit = apart(peak, self.max_read_voltage, spec=".4g")
            shown = "NaN" if math.isnan(peak) else f"{shown} V"
            raise SafetyViolation(f"read voltage {shown} exceeds the safe limit of {limit} V")

    def check_compliance(self, current: float) -> None:
        """Raise SafetyViolation if a compliance setting (A) is above the envelope's."""
        if not 0 < current <= self.compliance_current:
            shown, limit = apart(current, self.compliance_current, spec=".4g")
            raise SafetyViolation(f"compliance {shown} A is outside 0..{limit} A")

    def as_dict(self) -> dict[str, Any]:
        """Plain-dict form for provenance records."""
        return asdict(self)
