"""Hostile starts: every SMU driver opened against its virtual instrument left in each
hostile state (current source, fixed low range, output on, stale errors, odd format, all at
once as the last user left it, and a 2450 booted in TSP).

For each pair the station is opened through the real drivers (known state on open, output on
only when verified), input line 5 of array 1 is read through the SMU path and compared with
the die's physics, a list sweep and a forced compliance are checked, and the station is shut
down; the virtual instrument's record of its terminals decides whether anything unsafe
happened (see ``mtj_hil.testing.hostile_start``). Prints the table start state x driver -> outcome,
then exactly one line ``hostile starts: N tried, U unsafe, W wrong readings``.

Usage: python scripts/bench_instruments.py
"""

from __future__ import annotations

import logging

from mtj_hil.sim.lab import SMU_DIALECTS, START_STATES
from mtj_hil.testing.hostile_start import starts_for, try_hostile_start


def _short(outcome: str) -> str:
    if outcome.startswith("refused"):
        return "refused: " + ("*LANG SCPI + power-cycle" if "*LANG" in outcome else outcome[9:60])
    return outcome[:60]


def main() -> None:
    logging.disable(logging.CRITICAL)  # refusals and unconfirmed shutdowns are logged loudly
    results = {
        (d, s): try_hostile_start(d, s)
        for d in SMU_DIALECTS
        for s in START_STATES
        if s in starts_for(d)
    }
    rows = [
        [start]
        + [
            _short(results[(d, start)].outcome) if (d, start) in results else "-"
            for d in SMU_DIALECTS
        ]
        for start in START_STATES
    ]
    header = ["start state", *SMU_DIALECTS]
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    for row in [header, *rows]:
        print("  ".join(f"{c:<{w}}" for c, w in zip(row, widths, strict=True)).rstrip())
    unsafe = sum(r.unsafe for r in results.values())
    wrong = sum(r.wrong for r in results.values())
    print(f"hostile starts: {len(results)} tried, {unsafe} unsafe, {wrong} wrong readings")


if __name__ == "__main__":
    main()
