"""A switching plan's values the bench cannot set exactly, refused
(:mod:`mtj_hil.protocols.resolution`)."""

from __future__ import annotations

from typing import Any

from mtj_hil.protocols.chip import Limits
from mtj_hil.protocols.resolution import refuse_unsettable


def refuse_unsettable_plan(lim: Limits, plan: Any) -> None:
    """Refuse a value of ``plan`` (a
    :class:`~mtj_hil.protocols.switching.procedure.SwitchingPlan`) the bench cannot set
    exactly: its grid, read voltages, R-V loop width and set pulse.

    Raises:
        SettingRefused: naming the plan's field (see
            :func:`~mtj_hil.protocols.resolution.refuse_unsettable`).
    """
    volts = [("amplitudes", "grid point amplitude", a) for a in plan.amplitudes]
    volts.append(("read_voltage", "read voltage", plan.read_voltage))
    if plan.disturb_voltage:
        volts.append(("disturb_voltage", "read-disturb voltage", plan.disturb_voltage))
    seconds = [("widths", "grid point width", w) for w in plan.widths]
    if plan.loop_width is not None:
        seconds.append(("loop_width", "R-V loop width", plan.loop_width))
    if plan.set_pulse is not None:
        volts.append(("set_pulse", "set pulse amplitude", plan.set_pulse.amplitude))
        seconds.append(("set_pulse", "set pulse width", plan.set_pulse.width))
    for setting, what, value in volts:
        refuse_unsettable(setting, what, float(value), lim, "V")
    for setting, what, value in seconds:
        refuse_unsettable(setting, what, float(value), lim, "s")
