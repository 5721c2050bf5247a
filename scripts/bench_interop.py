"""Interop matrix: unmodified SMU drivers of other projects (and ours) against the virtual lab.

Each client drives the virtual instrument of the model it was written for through the full
virtual lab (a die device routed to the SMU by the virtual board): open, configure, measure
(the reading must match the die's physics), buffer paths, snapshots and sweeps where the
client has them, error queue, shutdown. Clients: pymeasure Keithley2400 / 2450 / 2600,
QCoDeS Keithley2400 / 2450 / 2602B, the ``keithley2600`` package, and this project's four
drivers. Prints one row per client x operation, then for every failed pair whose fault it
is (a named peer bug, or UNATTRIBUTED) and every pair not tried for want of its client
library, then exactly one summary line
``interop: N of M pairs ok`` (a pair = one client script against one virtual instrument).

Usage: python scripts/bench_interop.py [--start STATE] [--smoke]
"""

from __future__ import annotations

import argparse
import logging
import warnings

from _smoke import bench_description

from mtj_hil.sim.lab.smu.dialects import START_STATES
from mtj_hil.testing.interop import CLIENTS, run_pair

SMOKE = ("pymeasure Keithley2400", "mtj-hil keithley2400", "qcodes Keithley2602B fastsweep")


def main() -> None:
    parser = argparse.ArgumentParser(description=bench_description(__doc__))
    parser.add_argument(
        "--start",
        default="power-on",
        choices=list(START_STATES),
        help="state each virtual SMU starts in before the client connects",
    )
    parser.add_argument("--smoke", action="store_true", help="three pairs only")
    args = parser.parse_args()
    logging.disable(logging.CRITICAL)  # client libraries log every refused command
    warnings.filterwarnings("ignore")
    names = [n for n in CLIENTS if not args.smoke or n in SMOKE]
    results = [run_pair(name, start=args.start) for name in names]
    width = max(len(r.client) for r in results)
    for r in results:
        for op, outcome in r.ops.items():
            print(f"{r.client:<{width}}  x  virtual {r.dialect:<15} {op:<10} {outcome}")
    for r in results:
        if r.missing:
            print(f"NOT TRIED {r.client}: its library {r.missing!r} is not installed")
        elif not r.ok:
            print(
                f"FAILED {r.client}: {r.fault or 'UNATTRIBUTED (the virtual instrument may be at fault)'}"
            )
    ok = sum(r.ok for r in results)
    print(f"interop: {ok} of {len(results)} pairs ok")


if __name__ == "__main__":
    main()
