"""Hostile starts, mid-run faults and a mutation check of the SMU drivers.

1. Hostile starts: every SMU driver opened against its virtual instrument left in each state a
   previous user could leave it in (current source, fixed low range, output on, stale errors,
   odd format, rear terminals, remote sense, filter, REL, short integration, delays, autozero
   off, automatic output-off, arm counts, low ASCII precision, the other channel live or
   sourcing current, floating LO, pulsed shape, loose protection, 50 Hz mains, everything at
   once, a 2450 booted in TSP). The station is opened through the real drivers, one input
   line is read through the SMU path and compared with the die, a sweep and a forced
   compliance are checked, and the station is shut down. The virtual instrument's records
   judge: what reached the terminals (unsafe), the settings every point was measured with
   and the values read (wrong reading); see ``mtj_hil.testing.hostile_start``.
2. Mid-run faults: a reset, a power cycle, a reset mid-sweep, an over-temperature trip, an
   interlock opening, another instrument answering, a setting changed, the output switched
   off - each while a run reads; the run must stop (exit 7) and record nothing read after
   the fault (``mtj_hil.testing.hostile_faults``).
3. Mutations: each known-state step of each driver (the reset included) removed in turn; the
   cases above must then report something unsafe or wrong (``mtj_hil.testing.mutations``).

Prints the tables, then ``mutations caught: K of M`` and, last,
``hostile starts: N tried, U unsafe, W wrong readings`` (N counts starts and faults).

Usage: python scripts/bench_instruments.py [--smoke] [--no-mutations]
"""

from __future__ import annotations

import argparse
import logging
import warnings

from _smoke import bench_description

from mtj_hil.sim.lab import SMU_DIALECTS, START_STATES
from mtj_hil.testing.hostile_faults import FAULTS, faults_for, try_midrun
from mtj_hil.testing.hostile_start import starts_for, try_hostile_start
from mtj_hil.testing.mutations import mutations, try_mutation

SMOKE_STARTS = ("power-on", "last-user")
SMOKE_FAULTS = ("reset mid-read",)


def _short(outcome: str) -> str:
    if outcome.startswith("refused"):
        return "refused: " + ("*LANG SCPI + power-cycle" if "*LANG" in outcome else outcome[9:40])
    if outcome.startswith("stopped"):
        return "stopped (exit 7)"
    return outcome[:48]


def _table(title: str, rows: list[str], results: dict) -> None:
    header = [title, *SMU_DIALECTS]
    body = [
        [row]
        + [_short(results[(d, row)].outcome) if (d, row) in results else "-" for d in SMU_DIALECTS]
        for row in rows
    ]
    widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
    for line in [header, *body]:
        print("  ".join(f"{c:<{w}}" for c, w in zip(line, widths, strict=True)).rstrip())
    print()


def main() -> None:
    parser = argparse.ArgumentParser(description=bench_description(__doc__))
    parser.add_argument(
        "--smoke", action="store_true", help="two starts, one fault, one mutation per driver"
    )
    parser.add_argument("--no-mutations", action="store_true", help="skip the mutation check")
    args = parser.parse_args()
    # a remote-sense runaway drives the die far beyond its read voltage: overflow warnings
    warnings.filterwarnings("ignore", category=RuntimeWarning)
    logging.disable(logging.CRITICAL)  # refusals and unconfirmed shutdowns are logged loudly
    starts = {
        (d, s): try_hostile_start(d, s)
        for d in SMU_DIALECTS
        for s in starts_for(d)
        if not args.smoke or s in SMOKE_STARTS
    }
    faults = {
        (d, f): try_midrun(d, f)
        for d in SMU_DIALECTS
        for f in faults_for(d)
        if not args.smoke or f in SMOKE_FAULTS
    }
    _table("start state", [s for s in START_STATES if any(k[1] == s for k in starts)], starts)
    _table("mid-run fault", [f for f in FAULTS if any(k[1] == f for k in faults)], faults)
    if not args.no_mutations:
        found = []
        for d in SMU_DIALECTS:
            for step in mutations(d)[: 1 if args.smoke else None]:
                r = try_mutation(d, step)
                found.append(r)
                caught = (
                    f"caught by {r.caught_by}: {r.outcome[:70]}" if r.caught_by else "NOT CAUGHT"
                )
                print(f"mutation {d} without '{step}': {caught}")
        print(f"mutations caught: {sum(r.caught_by is not None for r in found)} of {len(found)}")
    everything = [*starts.values(), *faults.values()]
    unsafe = sum(r.unsafe for r in everything)
    wrong = sum(r.wrong for r in everything)
    print(f"hostile starts: {len(everything)} tried, {unsafe} unsafe, {wrong} wrong readings")


if __name__ == "__main__":
    main()
