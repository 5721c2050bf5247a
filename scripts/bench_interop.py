"""Interop matrix: unmodified SMU drivers of other projects (and ours) against the virtual lab.

Each client drives the virtual instrument of the model it was written for through the full
virtual lab (a die device routed to the SMU by the virtual board): open, configure, measure
(the reading must match the die's physics), error queue, shutdown. Prints one row per
client x virtual instrument x operation, then exactly one summary line
``interop: N of M pairs ok`` (a pair = one client against one virtual instrument).

Usage: python scripts/bench_interop.py [--start STATE] [--clients "NAME1,NAME2"] [--smoke]
"""

from __future__ import annotations

import argparse
import logging

from _smoke import parse_args

from mtj_hil.sim.lab.smu.dialects import START_STATES
from mtj_hil.testing.interop import CLIENTS, run_pair

SMOKE = {"clients": "pymeasure Keithley2400,qcodes Keithley2400,mtj-hil keithley2400"}
"""What ``--smoke`` shrinks: one client of each library."""


def main(argv: list[str] | None = None) -> None:
    """Run every client against its virtual instrument; print the matrix and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--start", default="power-on", choices=list(START_STATES))
    parser.add_argument(
        "--clients",
        default=None,
        help=f"comma-separated client names (default: all of {', '.join(CLIENTS)})",
    )
    args = parse_args(parser, SMOKE, argv)
    names = list(CLIENTS)
    if args.clients is not None:
        wanted = [w.strip() for w in args.clients.split(",") if w.strip()]
        unknown = [w for w in wanted if w not in CLIENTS]
        if unknown:
            parser.error(f"unknown clients: {', '.join(unknown)}")
        names = [n for n in names if n in wanted]
    logging.disable(logging.CRITICAL)  # client libraries log every refused command
    results = [run_pair(name, start=args.start) for name in names]
    width = max(len(r.client) for r in results)
    for r in results:
        for op, outcome in r.ops.items():
            print(f"{r.client:<{width}}  x  virtual {r.dialect:<15} {op:<10} {outcome}")
    ok = sum(r.ok for r in results)
    print(f"interop: {ok} of {len(results)} pairs ok")


if __name__ == "__main__":
    main()
