"""How much of each SMU model's everyday command set the virtual instruments obey.

The lists are data (``mtj_hil/sim/lab/smu/everyday/<dialect>.toml``, one entry per command,
each citing its manual section): the line to send, lines to send first, a query after, and a
regular expression its reply must match. :func:`check_dialect` sends every entry to a fresh
virtual instrument of that dialect (no bench state carried over) and counts the entries whose
reply matches with an empty error queue afterwards. The bench and the tests read the same
files.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from mtj_hil.sim.lab.smu.dialects import SMU_DIALECTS, make_virtual_smu

__all__ = ["EVERYDAY", "Entry", "Outcome", "check_dialect", "load_entries"]

EVERYDAY = Path(__file__).resolve().parents[1] / "sim" / "lab" / "smu" / "everyday"
#: the names the coverage line uses
MODEL_NAMES = {
    "keithley2400": "2400",
    "keithley2450": "2450",
    "keysight_b2900": "B2900",
    "keithley2600": "26xx",
}


@dataclass(frozen=True)
class Entry:
    """One everyday command (see the module docstring)."""

    send: str
    section: str
    setup: tuple[str, ...] = ()
    query: str | None = None
    expect: str | None = None


@dataclass
class Outcome:
    """Entries passed of a dialect's list, and why the others failed."""

    dialect: str
    passed: int = 0
    total: int = 0
    failures: list[str] = field(default_factory=list)

    @property
    def line(self) -> str:
        return f"{MODEL_NAMES[self.dialect]} {self.passed}/{self.total}"


def load_entries(dialect: str) -> list[Entry]:
    """The everyday list of ``dialect`` (raises FileNotFoundError for an unknown one)."""
    data = tomllib.loads((EVERYDAY / f"{dialect}.toml").read_text(encoding="utf-8"))
    return [
        Entry(c["send"], c["section"], tuple(c.get("setup", ())), c.get("query"), c.get("expect"))
        for c in data["command"]
    ]


def _ohm(volts: float) -> float:
    return volts / 1e4  # a 10 kohm resistor on the wired channel


def _error_query(dialect: str) -> str:
    return "print(errorqueue.next())" if dialect == "keithley2600" else ":SYST:ERR?"


def try_entry(dialect: str, entry: Entry) -> str | None:
    """None if the entry behaves as its manual says, else why not."""
    smu = make_virtual_smu(dialect, _ohm)
    for line in entry.setup:
        smu.handle(line)
    reply = smu.handle(entry.send)
    if entry.query is not None:
        reply = smu.handle(entry.query)
    errors = list(smu.errors())
    if errors:
        return f"{entry.send!r}: error queue {errors[:2]}"
    if entry.expect is not None and (reply is None or not re.search(entry.expect, reply)):
        return f"{entry.send!r}: reply {reply!r} does not match {entry.expect!r}"
    return None


def check_dialect(dialect: str) -> Outcome:
    """Run every entry of ``dialect``'s list against fresh virtual instruments."""
    outcome = Outcome(dialect)
    for entry in load_entries(dialect):
        outcome.total += 1
        why = try_entry(dialect, entry)
        if why is None:
            outcome.passed += 1
        else:
            outcome.failures.append(f"{entry.section}: {why}")
    return outcome


def coverage_line(outcomes: list[Outcome]) -> str:
    """``command coverage: 2400 a/b, 2450 c/d, B2900 e/f, 26xx g/h``."""
    order = ["keithley2400", "keithley2450", "keysight_b2900", "keithley2600"]
    by = {o.dialect: o for o in outcomes}
    return "command coverage: " + ", ".join(by[d].line for d in order if d in by)


_ = SMU_DIALECTS
