"""Fuzz the command line: mutated station, profile, campaign, calibration and run files and
random arguments to every command (mtj_hil.testing.fuzz), and count what went wrong.

    python scripts/bench_fuzz.py            # 520 cases (a few minutes)
    python scripts/bench_fuzz.py --smoke    # 6 cases
    python scripts/bench_fuzz.py --cases 2000 --seed 7

Prints ``fuzzed: N cases, C crashes, H hangs, U unnamed messages, F input files changed``
(then each failing case with its command line and output: a command changed a file it was
given, which the fuzzer then restores); exit 1 if any case failed.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

from _smoke import bench_description

from mtj_hil.testing.fuzz import fuzz


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=bench_description(__doc__))
    parser.add_argument("--cases", type=int, default=520, help="cases to run (default 520)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default 0)")
    parser.add_argument("--budget", type=float, default=60.0, help="seconds a case may take")
    parser.add_argument("--smoke", action="store_true", help="6 cases, to check it runs")
    args = parser.parse_args(argv)
    cases = 6 if args.smoke else args.cases
    start = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="mtj-hil-fuzz-") as folder:
        tally = fuzz(cases, args.seed, Path(folder), budget=args.budget)
    print(tally.line())
    failed = list({id(o): o for o in (*tally.crashes, *tally.hangs, *tally.unnamed,
                                       *tally.changed)}.values())  # fmt: skip
    for outcome in failed:
        kind = "crash" if outcome.crash else "hang" if outcome.hang else "unnamed message"
        if outcome.changed:
            kind = f"changed {', '.join(outcome.changed)}" + ("" if kind == "unnamed message"
                                                              else f", {kind}")  # fmt: skip
        print(f"\n{kind} (exit {outcome.code}, {outcome.seconds:.1f} s): mtj-hil "
              f"{' '.join(outcome.case.args)}", file=sys.stderr)  # fmt: skip
        print("   " + " ".join(outcome.output.split())[-600:], file=sys.stderr)
    print(f"({time.monotonic() - start:.0f} s, seed {args.seed})", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
