"""Voltages and widths as a bench can set them (:attr:`~mtj_hil.protocols.chip.Limits.voltage_step`,
:attr:`~mtj_hil.protocols.chip.Limits.width_digits`).

A value the bench cannot set exactly goes out as its nearest settable one; a read voltage
that does divides every current by the wrong voltage (0.1004 V asked, 0.100 V applied: every
conductance 0.4 % low), and two grid amplitudes may become one pulse recorded as two. So a
plan's values must be settable (:func:`refuse_unsettable`), and the values a procedure
chooses itself are taken to the nearest settable one before use (:func:`settable_volts`,
:func:`settable_width`).
"""

from __future__ import annotations

import math

from mtj_hil.protocols.chip import Limits
from mtj_hil.protocols.errors import SettingRefused

TOLERANCE = 1e-9
"""Relative difference below which a value counts as settable (arithmetic's last bits)."""


def settable_volts(volts: float, limits: Limits) -> float:
    """``volts`` (V) at the nearest multiple of the bench's voltage step (unchanged without one)."""
    step = float(limits.voltage_step)
    if step <= 0 or not math.isfinite(volts):
        return float(volts)
    return round(round(float(volts) / step) * step, 12)


def settable_width(seconds: float, limits: Limits) -> float:
    """``seconds`` (s) to the bench's significant digits (unchanged without a limit on them)."""
    digits = int(limits.width_digits)
    if digits <= 0 or not math.isfinite(seconds) or seconds <= 0:
        return float(seconds)
    return float(f"{float(seconds):.{digits - 1}e}")


def refuse_unsettable(setting: str, what: str, value: float, limits: Limits, unit: str) -> None:
    """Refuse ``value`` (``unit`` "V" or "s") the bench cannot set exactly.

    Raises:
        SettingRefused: naming ``setting``, the value, what would be set instead and the
            bench's resolution; nothing is applied.
    """
    near = settable_volts(value, limits) if unit == "V" else settable_width(value, limits)
    if math.isclose(near, value, rel_tol=TOLERANCE, abs_tol=1e-15):
        return
    if unit == "V":
        grain = f"in steps of {limits.voltage_step:g} V"
    else:
        grain = f"with {limits.width_digits} significant digits"
    raise SettingRefused(
        setting,
        f"{what} {value!r} {unit} is finer than the bench sets {grain}: it would be applied "
        f"as {near:.6g} {unit} while the run records {value!r}; give {near:.6g}",
    )
