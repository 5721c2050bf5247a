"""Modelled lab time of a whole-die characterisation over the virtual lab.

Runs the very same characterisation (mtj_hil.protocols.characterize_die, 3 write-read cycles per
state) through InstrumentChip, the real drivers and the real wire protocols against the
virtual lab, and prints, per read strategy: modelled lab time, its physical floor
(converter or SMU integration times plus write-pulse widths, which no protocol can avoid),
the efficiency floor / modelled time, and the number of bus transactions.

Strategies:
  fast    on-chip converters, one SCAN per conductance map (board firmware 1.1)
  vector  on-chip converters, VREAD + READ per input vector (firmware 1.0 boards)
  naive   point by point: one SMU query per device read (route the line, measure)

Modelled instruments (state them with the figures): SMU 2 ms per transaction and 1 NPLC at
60 Hz; board at 115200 baud, 2 ms command overhead, 5 ms relay settling, 16.7 ms converter
integration (1 NPLC at 60 Hz), 0.2 ms DAC settling, 1.5 ms conversion.

Usage: python scripts/bench_lab.py [--arrays N] [--slow-arrays N] [--cycles 3] [--smoke]
(the slow strategies are measured on fewer arrays and scaled to the die; the script says so)
"""

from __future__ import annotations

import argparse
import time
import tomllib
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _smoke import parse_args

from mtj_hil.protocols import CharacterizationPlan, MemorySink, characterize_die
from mtj_hil.sim import SimulatedChip
from mtj_hil.sim.lab.lab import VirtualLab
from mtj_hil.sim.lab.server import LineServer
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

STATION = Path(__file__).resolve().parents[1] / "stations" / "virtual-lab.toml"


class ConversionCounter:
    """Wraps the board's frame handler and counts input vectors the converters integrate:
    one per READ, one per enabled input line of a SCAN (all lines are enabled here)."""

    def __init__(self, handler: Callable[[bytes], bytes | None], rows: int) -> None:
        self.handler = handler
        self.rows = rows
        self.vectors = 0

    def __call__(self, line: bytes) -> bytes | None:
        verb = line.split(b" ", 1)[0]
        if verb == b"READ":
            self.vectors += 1
        elif verb == b"SCAN":
            self.vectors += self.rows
        return self.handler(line)


def run(strategy: str, n_arrays: int, cycles: int) -> dict[str, Any]:
    """Characterise ``n_arrays`` arrays over a fresh virtual lab with one read strategy."""
    data = tomllib.loads(STATION.read_text())
    if strategy == "naive":
        data["station"]["read_path"] = "smu"
    cfg = data.pop("virtual_lab")
    lab = VirtualLab(
        data["die"]["profile"],
        cfg["lot_seed"],
        cfg["die"],
        smu_latency=cfg["smu_latency"],
        line_frequency=data["station"]["line_frequency"],
    )
    counter = ConversionCounter(lab.board.handle, lab.board.rows)
    lab.board_server = LineServer(counter, encoding=None, name="counted-board")
    start = time.perf_counter()
    with lab:
        data["controller"]["url"] = lab.controller_url
        data["smu"]["sense"]["resource"] = lab.smu_resource
        with open_station(station_from_dict(data, STATION)) as chip:
            if strategy == "vector":
                chip._v11 = False  # behave as with a firmware 1.0 board: no SCAN, no ARNG
            lab.clock.reset()
            plan = CharacterizationPlan(arrays=tuple(range(n_arrays)), cycles=cycles)
            result = characterize_die(chip, MemorySink(), plan)
            modelled, transactions = lab.clock.now, lab.clock.transactions
    pulses = sum(width for *_, width in lab.board.pulses)
    if strategy == "naive":
        integration = lab.smu.points_measured / lab.smu.line_frequency  # 1 NPLC each
    else:
        integration = counter.vectors * lab.board.timing.t_int
    return {
        "modelled": modelled,
        "floor": pulses + integration,
        "transactions": transactions,
        "wall": time.perf_counter() - start,
        "codes": result.codes,
        "plan": plan,
        "die": (cfg["lot_seed"], cfg["die"]),
    }


def agreement(fast: dict[str, Any]) -> str:
    """Defect calls over the lab against the in-process simulator on the same die."""
    lot, die = fast["die"]
    reference = characterize_die(
        SimulatedChip.from_lot("1t1r-20k", lot, die), MemorySink(), fast["plan"]
    )
    differ = int((reference.codes != fast["codes"]).sum())
    return (
        f"same die (lot {lot}, die {die}) in process: {differ} of {reference.codes.size} "
        f"devices classified differently; {int((reference.codes != 0).sum())} defects found"
    )


SMOKE = {"arrays": 1, "cycles": 1}
"""What ``--smoke`` shrinks."""


def main(argv: list[str] | None = None) -> None:
    """Run every strategy and print the table."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--arrays", type=int, default=32, help="arrays for the fast strategy")
    parser.add_argument(
        "--slow-arrays",
        type=int,
        default=1,
        help="arrays for the vector and naive strategies (scaled to --arrays)",
    )
    parser.add_argument(
        "--cycles",
        type=int,
        default=CharacterizationPlan.cycles,
        help="write-read cycles per state (default %(default)s)",
    )
    args = parse_args(parser, SMOKE, argv)
    rows = []
    results = {}
    for strategy, n in (
        ("fast", args.arrays),
        ("vector", args.slow_arrays),
        ("naive", args.slow_arrays),
    ):
        r = run(strategy, n, args.cycles)
        results[strategy] = r
        scale = args.arrays / n
        rows.append(
            (
                strategy,
                n,
                r["modelled"] * scale,
                r["floor"] * scale,
                r["transactions"] * scale,
                r["wall"],
            )
        )
    print(
        f"characterisation of {args.arrays} arrays x 625 devices, {args.cycles} write-read "
        "cycles per state (virtual lab)"
    )
    print(
        "instruments: SMU 2 ms/transaction, 1 NPLC @ 60 Hz; board 115200 baud, t_cmd 2 ms, "
        "t_route 5 ms, t_int 16.7 ms, t_dac 0.2 ms, t_read 1.5 ms"
    )
    job_floor = rows[0][3]
    print(
        f"{'strategy':8s} {'measured on':>11s} {'modelled':>11s} {'own floor':>11s} "
        f"{'efficiency':>10s} {'vs job floor':>12s} {'transactions':>12s} {'wall':>7s}"
    )
    for strategy, n, modelled, floor, transactions, wall in rows:
        print(
            f"{strategy:8s} {n:>4d} arrays {modelled:9.1f} s {floor:9.1f} s "
            f"{floor / modelled:10.3f} {job_floor / modelled:12.3f} {transactions:12.0f} "
            f"{wall:6.1f} s"
        )
    print(
        "own floor: integration time of the conversions (or SMU points) the strategy made, "
        "plus pulse widths;"
    )
    print(
        f"job floor: {job_floor:.1f} s, the fast strategy's own floor (all lines converted in "
        "parallel), the least any strategy must spend."
    )
    print("Figures measured on fewer arrays are scaled linearly to the die.")
    print(agreement(results["fast"]))


if __name__ == "__main__":
    main()
