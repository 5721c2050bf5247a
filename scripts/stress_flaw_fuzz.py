"""Fuzz the defect detector with random dies: any mix of the optional flaw sections, values
drawn anywhere inside the ranges the profile schema accepts (mtj_hil.testing.flaw_fuzz).

Every die must be classified or refused by name; anything else is a crash (a bug). Dies
whose confident calls (>= 0.95) are wrong more than 5 % of the time, or whose good devices
are called defective more than 0.1 % of the time, are listed with their sections, so a
flaw the detector cannot describe is found before a lab's wafer finds it. Many drawn dies
are far outside physics (a 90 % telegraph drop on half the devices, a drift of kelvins per
second): there a refusal or honest UNCERTAIN is the right answer, a confident wrong call is
not.

    python scripts/stress_flaw_fuzz.py                  # 200 dies, about 2 minutes
    python scripts/stress_flaw_fuzz.py --base 1t1r-early-process --seed 1000
    python scripts/stress_flaw_fuzz.py --smoke          # 6 dies

Ends with ``flaw fuzz: N dies, C crashes, R refused, P profiles refused, W confidently wrong``;
exit 1 on any crash.
"""

from __future__ import annotations

import argparse
import sys
import time

from _smoke import bench_description, parse_args

from mtj_hil.testing.flaw_fuzz import fuzz_flaws

SMOKE = {"dies": 6, "arrays": 2}


def main(argv: list[str] | None = None) -> int:
    """Fuzz, print each notable die and the summary line; 1 if anything crashed."""
    ap = argparse.ArgumentParser(description=bench_description(__doc__))
    ap.add_argument("--dies", type=int, default=200, help="random dies (default 200)")
    ap.add_argument("--seed", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--base", default="1t1r-20k", help="profile the flaws are added to")
    ap.add_argument("--arrays", type=int, default=4, help="arrays measured per die")
    args = parse_args(ap, SMOKE, argv)
    counts = {"classified": 0, "refused": 0, "profile refused": 0, "crash": 0}
    wrong = 0
    t0 = time.perf_counter()
    for out in fuzz_flaws(range(args.seed, args.seed + args.dies), args.base, args.arrays):
        counts[out.verdict] += 1
        if out.verdict == "crash":
            print(f"seed {out.seed}: CRASH with {out.changes}\n{out.message}")
        elif out.verdict == "classified" and (
            out.confident_wrong > 0.05 or out.good_to_defect > 1e-3
        ):
            wrong += 1
            print(
                f"seed {out.seed}: {100 * out.confident_wrong:.1f} % of confident calls wrong, "
                f"good->defect {out.good_to_defect:.1e}, uncertain {100 * out.uncertain:.2f} %"
                f" with {out.changes}"
            )
    print(
        f"{args.dies} dies of {args.base} with random flaw sections, {args.arrays} arrays "
        f"each, in {time.perf_counter() - t0:.0f} s: {counts['classified']} classified"
    )
    print(
        f"flaw fuzz: {args.dies} dies, {counts['crash']} crashes, {counts['refused']} refused, "
        f"{counts['profile refused']} profiles refused, {wrong} confidently wrong"
    )
    return 1 if counts["crash"] else 0


if __name__ == "__main__":
    sys.exit(main())
