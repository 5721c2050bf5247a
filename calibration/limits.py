"""Plausibility limits of a calibration, held by the procedures that measure one and by the
reader of record files alike: a value the procedure would refuse as a fault is refused in a
file too (a hand edit or a copy from another station must not reach the reads)."""

from __future__ import annotations

MAX_SMU_OFFSET = 1e-6
"""A (1 uA): an open connector reading more than this means a wiring or instrument fault."""
MIN_SERIES_RESISTANCE = -5.0
"""ohm: a fitted connector path below this is a fault, not the fit's scatter around 0."""
MAX_SERIES_RESISTANCE = 1000.0
"""ohm: a connector path above this is a fault (and an implausible fit)."""
MAX_GAIN_ERROR = 0.2
"""Gains further than this from 1 (SMU or converter) are refused as faults."""
MAX_CONVERTER_OFFSET_FRACTION = 0.05
"""Converter offsets larger than this fraction of the range calibrated are refused as a fault
of that line (a real converter's offset is well under 1 % of its range)..."""
MIN_CONVERTER_OFFSET_BOUND = 2e-6
"""A: ...but never a bound below this: part of an offset does not scale with the range
(the virtual lab's lines: sigma 0.3 uA on every range), so on the smallest range, 1e-5 A,
5 % (0.5 uA) refused sound lines."""


def max_converter_offset(full_scale: float) -> float:
    """The largest converter offset (A) a line calibrated on ``full_scale`` (A) may have."""
    return max(MAX_CONVERTER_OFFSET_FRACTION * full_scale, MIN_CONVERTER_OFFSET_BOUND)


MAX_SHORT_G = 1.0
"""S: a defect threshold above this (a device below 1 ohm) is no threshold: no read range
can show such a conductance, so it would turn short detection off."""
