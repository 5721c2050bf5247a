"""Mutation check of the hostile-start bench: does it fail when a driver forgets something?

For each driver and each step of its known-state sequence that sends commands (the reset
included), the step is removed - its commands and its read-backs, as if the driver did not
know the setting - and the driver's hostile-start and mid-run cases run until one reports the
case unsafe or a wrong reading. A mutation no case catches means the bench cannot tell that
setting apart (a virtual instrument that stores it without effect, or no start state that
leaves it wrong). :func:`mutations` lists them; :func:`try_mutation` runs one.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from unittest import mock

from mtj_hil.instruments.smu import (
    Keithley2400SourceMeter,
    Keithley2450,
    Keithley2600Channel,
    KeysightB2900Channel,
)
from mtj_hil.testing.hostile_faults import faults_for, try_midrun
from mtj_hil.testing.hostile_start import starts_for, try_hostile_start

__all__ = ["DRIVER_CLASSES", "MutationResult", "mutations", "try_mutation"]

#: station driver name -> the class whose ``_known_state`` a station's sense SMU runs
DRIVER_CLASSES = {
    "keithley2400": Keithley2400SourceMeter,
    "keithley2450": Keithley2450,
    "keithley2600": Keithley2600Channel,
    "keysight_b2900": KeysightB2900Channel,
}


@dataclass
class MutationResult:
    """One removed step and the first case that caught it (``None``: not caught)."""

    driver: str
    step: str
    caught_by: str | None = None
    outcome: str = ""
    tried: int = 0


@contextlib.contextmanager
def without_step(driver: str, step: str) -> Iterator[list[str]]:
    """Run the driver with ``step`` removed from its known state; yields the step names
    seen (with commands), so a run without a mutation lists them."""
    cls = DRIVER_CLASSES[driver]
    original = cls._known_state
    seen: list[str] = []

    def mutated(self: object, settings: object) -> list:
        steps = original(self, settings)
        seen.extend(s.name for s in steps if s.commands and s.name not in seen)
        return [s for s in steps if s.name != step]

    with mock.patch.object(cls, "_known_state", mutated):
        yield seen


def mutations(driver: str) -> list[str]:
    """The steps of ``driver``'s known state that send commands (one bench open)."""
    with without_step(driver, "") as seen:
        try_hostile_start(driver, "power-on")
    return list(seen)


def _cases(driver: str) -> list[tuple[str, str]]:
    starts = starts_for(driver)
    first = ["last-user"] + [s for s in starts if s != "last-user"]
    return [("start", s) for s in first] + [("fault", f) for f in faults_for(driver)]


def try_mutation(driver: str, step: str) -> MutationResult:
    """Remove ``step`` from ``driver`` and run its cases until one is unsafe or wrong."""
    result = MutationResult(driver, step)
    with without_step(driver, step):
        for kind, name in _cases(driver):
            run = try_hostile_start if kind == "start" else try_midrun
            outcome = run(driver, name)
            result.tried += 1
            if outcome.unsafe or outcome.wrong:
                result.caught_by, result.outcome = f"{kind} {name}", outcome.outcome
                break
    return result
