"""Hostile starts: every SMU driver opened against its virtual instrument left in each
hostile state (current source, fixed low range, output on, stale errors, odd format, all at
once as the last user left it, and a 2450 booted in TSP).

For each pair the station is opened through the real drivers (known state on open, output on
only when verified), input line 5 of array 1 is read through the SMU path and compared with
the die's physics, a list sweep and a forced compliance are checked, and the station is shut
down; the virtual instrument's record of its terminals decides whether anything unsafe
happened (see ``mtj_hil.testing.hostile_start``). Prints the table start state x driver -> outcome,
then exactly one line ``hostile starts: N tried, U unsafe, W wrong readings``.

Usage: python scripts/bench_instruments.py [--drivers D1,D2] [--starts S1,S2] [--smoke]
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence

from _smoke import parse_args

from mtj_hil.sim.lab import SMU_DIALECTS, START_STATES
from mtj_hil.testing.hostile_start import starts_for, try_hostile_start


def _short(outcome: str) -> str:
    if outcome.startswith("refused"):
        return "refused: " + ("*LANG SCPI + power-cycle" if "*LANG" in outcome else outcome[9:60])
    return outcome[:60]


SMOKE = {"starts": "last-user,tsp-language"}
"""What ``--smoke`` shrinks: the all-at-once start state, and the refused one."""


def _names(parser: argparse.ArgumentParser, text: str | None, known: Sequence[str]) -> list[str]:
    """The comma-separated names of ``text`` (None: all ``known``), in ``known``'s order."""
    if text is None:
        return list(known)
    wanted = [w.strip() for w in text.split(",") if w.strip()]
    unknown = [w for w in wanted if w not in known]
    if unknown:
        parser.error(f"unknown: {', '.join(unknown)} (known: {', '.join(known)})")
    return [k for k in known if k in wanted]


def main(argv: list[str] | None = None) -> None:
    """Try every (driver, start state) pair and print the table and the summary line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--drivers", default=None, help="comma-separated SMU drivers (default: all)"
    )
    parser.add_argument(
        "--starts", default=None, help="comma-separated start states (default: all)"
    )
    args = parse_args(parser, SMOKE, argv)
    drivers = _names(parser, args.drivers, SMU_DIALECTS)
    starts = _names(parser, args.starts, list(START_STATES))
    logging.disable(logging.CRITICAL)  # refusals and unconfirmed shutdowns are logged loudly
    results = {
        (d, s): try_hostile_start(d, s) for d in drivers for s in starts if s in starts_for(d)
    }
    rows = [
        [start]
        + [_short(results[(d, start)].outcome) if (d, start) in results else "-" for d in drivers]
        for start in starts
    ]
    header = ["start state", *drivers]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=True)).rstrip())
    unsafe = sum(r.unsafe for r in results.values())
    wrong = sum(r.wrong for r in results.values())
    print(f"hostile starts: {len(results)} tried, {unsafe} unsafe, {wrong} wrong readings")


if __name__ == "__main__":
    main()
