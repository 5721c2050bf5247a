"""Safety limits the controller's wire can carry exactly (docs/chip-protocol.md, section 2:
voltages in millivolts, times with four significant digits). A limit finer than that
would turn a request at the limit (the last round of a full-range write, say) into a wire
value beyond it, refused mid-run by the driver; the station file is refused instead,
with the nearest limit the wire carries."""

from __future__ import annotations

import math
from typing import Any

from mtj_hil.instruments.controller.wire import sent_seconds, sent_volts

VOLT_LIMITS = {
    "max_read_voltage": "max",
    "min_pulse_amplitude": "min",
    "max_pulse_amplitude": "max",
}
TIME_LIMITS = {"min_pulse_width": "min", "max_pulse_width": "max"}


def _inside_volts(volts: float, side: str) -> float:
    """The nearest multiple of 1 mV (V) on the allowed side of ``volts``."""
    millivolts = volts * 1000.0
    step = math.floor(millivolts + 1e-9) if side == "max" else math.ceil(millivolts - 1e-9)
    return step / 1000.0


def _inside_seconds(seconds: float, side: str) -> float:
    """The nearest four-significant-digit time (s) on the allowed side of ``seconds``."""
    exponent = math.floor(math.log10(seconds)) - 3
    units = seconds / 10.0**exponent
    step = math.floor(units + 1e-9) if side == "max" else math.ceil(units - 1e-9)
    return float(f"{step}e{exponent}")


def wire_limit_problem(limits: dict[str, Any]) -> tuple[str, str] | None:
    """``(key, problem)`` for the first ``[safety]`` limit the wire cannot carry exactly,
    or None. ``limits``: the section's values (V, s)."""
    for key, side in VOLT_LIMITS.items():
        volts = float(limits[key])
        if sent_volts(volts) != volts:
            return (
                f"safety.{key}",
                f"= {volts!r} V is finer than the 1 mV the controller's commands carry, so a "
                f"request at it would go out as {sent_volts(volts):.3f} V; allowed: a "
                f"multiple of 1 mV (e.g. {_inside_volts(volts, side):.3f})",
            )
    for key, side in TIME_LIMITS.items():
        seconds = float(limits[key])
        if seconds > 0 and sent_seconds(seconds) != seconds:
            return (
                f"safety.{key}",
                f"= {seconds!r} s is finer than the 4 significant digits the controller's "
                f"commands carry, so a request at it would go out as {sent_seconds(seconds):.3e}"
                f" s; allowed: 4 significant digits (e.g. {_inside_seconds(seconds, side):.4g})",
            )
    return None
