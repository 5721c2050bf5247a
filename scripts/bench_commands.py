"""Everyday-command coverage of the virtual SMUs.

Each model's everyday commands are listed, with the manual section of each, in
``mtj_hil/sim/lab/smu/everyday/<dialect>.toml`` (the tests read the same files). Every entry is
sent to a fresh virtual instrument; it passes when its reply matches what the manual says and
the error queue stays empty (``mtj_hil.testing.coverage``). Prints one row per model (and
each failing entry), then exactly one line
``command coverage: 2400 a/b, 2450 c/d, B2900 e/f, 26xx g/h``.

Usage: python scripts/bench_commands.py [--smoke]
"""

from __future__ import annotations

import argparse

from _smoke import bench_description

from mtj_hil.testing.coverage import MODEL_NAMES, check_dialect, coverage_line


def main() -> None:
    parser = argparse.ArgumentParser(description=bench_description(__doc__))
    parser.add_argument("--smoke", action="store_true", help="the same (it takes seconds)")
    parser.parse_args()
    outcomes = [
        check_dialect(d) for d in ("keithley2400", "keithley2450", "keysight_b2900", "keithley2600")
    ]
    for o in outcomes:
        share = 100.0 * o.passed / o.total
        print(
            f"{MODEL_NAMES[o.dialect]:<6} {o.passed:>3} of {o.total:>3} everyday commands ({share:.0f} %)"
        )
        for failure in o.failures:
            print(f"       FAILS {failure}")
    print(coverage_line(outcomes))


if __name__ == "__main__":
    main()
