"""Which virtual SMU dialects exist, the start states they can be found in, and a factory.

The dialect names are the station file's ``driver`` names (:data:`mtj_hil.station.config.SMU_DRIVERS`).
A start state leaves the instrument "as the last user left it", so that a driver's open sequence
is tested against an instrument that is not in its power-on state; each dialect produces a start
state by running the commands a previous user would have sent through its own parser.
"""

from __future__ import annotations

import importlib
from typing import Any

from mtj_hil.sim.lab.clock import VirtualClock
from mtj_hil.sim.lab.smu.core import Load, VirtualInstrument

__all__ = ["SMU_DIALECTS", "START_STATES", "dialect_class", "make_virtual_smu", "starts_of"]

#: Dialect names, identical to the station file's SMU ``driver`` names.
SMU_DIALECTS = ("keithley2400", "keithley2450", "keithley2600", "keysight_b2900")

#: Start state name -> what the instrument looks like when the driver opens it.
START_STATES: dict[str, str] = {
    "power-on": "power-on defaults of the manual, output off, empty error queue",
    "current-source": "sourcing current: 1 mA level, 20 V voltage limit, output off",
    "fixed-low-range": "fixed 1 uA current measure range and the lowest voltage source range",
    "output-on": "output on, sourcing 0.5 V",
    "stale-errors": "several errors already in the error queue",
    "odd-format": (
        "reply format changed: 2400 reduced elements in binary SREal, 2450 binary REAL, "
        "26xx format.data = REAL32, B2900 reduced/reordered elements"
    ),
    "last-user": (
        "all of the above at once: sourcing 1 mA (20 V limit) with the output on, fixed 1 uA "
        "range, odd format, stale errors (history starts there)"
    ),
    "tsp-language": "Keithley 2450 only: booted in TSP, SCPI refused until *LANG SCPI + power cycle",
    "rear-terminals": "2400/2450: REAR terminals selected (the die is wired to the front ones)",
    "remote-sense": "remote (4-wire) sense on, with no sense leads wired",
    "filter-on": "moving-average filter of 10 conversions on",
    "rel-offset": "2450/26xx: a 1 uA relative offset (REL) on",
    "short-integration": "0.01 PLC integration time",
    "source-delay": "a 0.5 s source delay",
    "autozero-off": "autozero off",
    "auto-output-off": "2400/B2900: the output switches off after each measurement",
    "arm-count": "2400/26xx/B2900: arm count above 1",
    "trigger-delay": "2400/B2900: a 0.2 s trigger delay",
    "measure-count": "2450: measure count 5",
    "low-precision": "2450/26xx: ASCII numbers with 1 significant digit",
    "line-frequency": "2400/26xx: set for 50 Hz mains (the station is 60 Hz)",
    "other-channel-live": "26xx/B2900: the channel the station does not use at 5 V, output on",
    "other-channel-current": "26xx/B2900: the unused channel sourcing 1 mA, output on",
    "floating-lo": "B2900: LO floating",
    "pulse-shape": "B2900: pulsed source shape",
    "compliance-high": "2400/2450/B2900: current limit at 1 A",
    "vlimit-high": "B2900: 20 V voltage limit",
}

#: Start states every dialect can be found in (the others come from its ``START_LINES``).
COMMON_STARTS = ("power-on", "stale-errors", "output-on", "last-user")


def starts_of(dialect: str) -> list[str]:
    """The start states ``dialect`` can be found in, in :data:`START_STATES` order."""
    cls = dialect_class(dialect)
    own = set(cls.START_LINES) | set(COMMON_STARTS)
    if dialect == "keithley2450":
        own.add("tsp-language")
    return [s for s in START_STATES if s in own]


_CLASSES = {
    "keithley2400": ("mtj_hil.sim.lab.smu.keithley2400", "Keithley2400"),
    "keithley2450": ("mtj_hil.sim.lab.smu.keithley2450", "Keithley2450"),
    "keithley2600": ("mtj_hil.sim.lab.smu.keithley2600", "Keithley2600"),
    "keysight_b2900": ("mtj_hil.sim.lab.smu.keysight_b2900", "KeysightB2900"),
}


def dialect_class(dialect: str) -> type[VirtualInstrument]:
    """The virtual instrument class of ``dialect``.

    :raises ValueError: an unknown dialect name (the message lists the valid ones).
    """
    if dialect not in SMU_DIALECTS:
        raise ValueError(
            f"unknown SMU dialect {dialect!r}; valid dialects: {', '.join(SMU_DIALECTS)}"
        )
    module, name = _CLASSES[dialect]
    return getattr(importlib.import_module(module), name)  # type: ignore[no-any-return]


def make_virtual_smu(
    dialect: str,
    load: Load,
    *,
    clock: VirtualClock | None = None,
    start: str = "power-on",
    **imperfections: Any,
) -> VirtualInstrument:
    """A virtual SMU of ``dialect`` measuring ``load`` (``load(V) -> A``), found in ``start``.

    ``imperfections`` go to the instrument (``gain``, ``offset``, ``noise_abs``, ``noise_rel``,
    ``seed``, ``latency``, ``line_frequency``, ``max_voltage``, ``load_channel``, ``idn``).

    :raises ValueError: an unknown dialect or start state (the message lists the valid ones),
        or a start state this dialect cannot be in (``tsp-language`` is 2450 only).
    """
    cls = dialect_class(dialect)
    if start not in START_STATES:
        raise ValueError(f"unknown start state {start!r}; valid: {', '.join(START_STATES)}")
    if start not in starts_of(dialect):
        raise ValueError(f"a {dialect} cannot be found in start state {start!r}")
    instrument = cls(load, clock=clock, **imperfections)
    instrument.apply_start(start)
    return instrument
