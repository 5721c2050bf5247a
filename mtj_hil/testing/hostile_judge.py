"""How a hostile-start case is judged, from the virtual instrument's own records.

* :func:`judge_history` - what reached the terminals (``history``): a current source with the
  output on, or a voltage beyond the envelope that is not a ramp down from the level a channel
  was found at, is unsafe (each channel on its own).
* :func:`judge_points` - the settings every measured point was taken with
  (``Point.conditions``, kept by the virtual instrument for each point): a point measured with
  protection looser than the station asks (current limit, voltage protection) or automatic
  output-on left enabled is unsafe; one measured with settings other than the station's
  (terminals, remote sense, filter, REL, integration time, delays, autozero, automatic
  output-off, source range, LO, pulse shape) is a wrong reading, because its value is not the
  measurement the station asked for even where it happens to agree with the die.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

__all__ = ["Expected", "judge_history", "judge_points"]


@dataclass(frozen=True)
class Expected:
    """What the station asks of the sense SMU: envelope (V), compliance (A), NPLC, current
    range (A, ``None`` = autorange), mains frequency (Hz)."""

    envelope_v: float
    compliance: float
    nplc: float
    current_range: float | None
    line_frequency: float


def judge_history(history: list[Any], envelope_v: float, found: dict[str, float]) -> str | None:
    """Why the terminals saw something unsafe after the driver took over, or None.

    ``found`` is each channel's terminal voltage when the driver found it (V); a voltage
    beyond the envelope is tolerated only while it ramps down from that level.
    """
    previous = {name: abs(v) for name, v in found.items()}
    for entry in history:
        if entry.output and entry.function != "VOLT":
            return f"a {entry.function} source with the output on (channel {entry.channel})"
        terminal = abs(entry.terminal) if entry.output else 0.0
        before = previous.get(entry.channel, 0.0)
        if terminal > envelope_v * (1 + 1e-9) and terminal > before + 1e-12:
            return f"{terminal:g} V on the terminals of channel {entry.channel} (envelope {envelope_v:g} V)"
        previous[entry.channel] = terminal
    return None


def _smallest(levels: tuple[float, ...] | None, value: float) -> float:
    if not levels:
        return value
    return next((lv for lv in sorted(levels) if lv >= value * (1 - 1e-9)), max(levels))


def judge_points(points: list[Any], expected: Expected, smu_class: Any) -> tuple[str, str] | None:
    """The first point measured in settings the station did not ask for:
    ``("unsafe" | "wrong reading", reason)``, or None."""
    attr, levels = smu_class.PROTECTION
    protection = _smallest(levels, expected.envelope_v)
    v_range = _smallest(smu_class.V_RANGES, expected.envelope_v / 1.05)
    for k, point in enumerate(points):
        c = point.conditions or {}
        at = f"point {k + 1}"
        if not math.isclose(c["limit_i"], expected.compliance, rel_tol=1e-6):
            return (
                "unsafe",
                f"{at} measured with a {c['limit_i']:g} A current limit (station {expected.compliance:g} A)",
            )
        if c[attr] > protection * (1 + 1e-9):
            return (
                "unsafe",
                f"{at} measured with voltage protection {c[attr]:g} V (station needs <= {protection:g} V)",
            )
        if c.get("auto_on"):
            return "unsafe", f"{at} measured with automatic output-on enabled"
        if c.get("protection") is False:
            return "unsafe", f"{at} measured without output protection (off at compliance)"
        wrong = [
            (c["terminals"] != "FRON", f"{c['terminals']} terminals"),
            (c["remote_sense"], "remote sense"),
            (c["filter"] is not None, f"filter {c['filter']}"),
            (c["rel"] is not None, f"REL offset {c['rel']}"),
            (not c["autozero"], "autozero off"),
            (not math.isclose(c["nplc"], expected.nplc, rel_tol=1e-6), f"NPLC {c['nplc']:g}"),
            (c["line_frequency"] != expected.line_frequency, f"{c['line_frequency']:g} Hz mains"),
            (c["source_delay"] > 0.01, f"source delay {c['source_delay']:g} s"),
            (c["trigger_delay"] > 0, f"trigger delay {c['trigger_delay']:g} s"),
            (c["auto_off"], "automatic output-off"),
            (c["i_range"] != expected.current_range, f"current range {c['i_range']}"),
            (
                c["v_range_auto"] or not math.isclose(c["v_range"], v_range),
                f"source range {c['v_range']:g} V",
            ),
            (c.get("lo", "GRO") != "GRO", f"LO {c.get('lo')}"),
            (c.get("shape", "DC") != "DC", f"{c.get('shape')} source shape"),
        ]
        for bad, what in wrong:
            if bad:
                return "wrong reading", f"{at} measured with {what}, not as the station asks"
    return None
