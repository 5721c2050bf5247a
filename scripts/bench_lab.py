"""Modelled lab time of a whole-die characterisation over the virtual lab.

Runs the very same characterisation (mtj_hil.protocols.characterize_die, 3 write-read cycles per
state) through InstrumentChip, the real drivers and the real wire protocols against the
virtual lab, and prints, per read strategy: modelled lab time, its physical floor
(converter or SMU integration times plus write-pulse widths, which no protocol can avoid),
the efficiency floor / modelled time, and the number of bus transactions.

Strategies:
  fast    on-chip converters, each array's characterisation one board-side sequence
          (firmware 1.3: write-verify on the board, scans streamed, conversions pipelined)
  scan    on-chip converters, one SCAN per conductance map (a firmware 1.2 board)
  vector  on-chip converters, VREAD + READ per input vector (firmware 1.0 boards)
  naive   point by point: one SMU query per device read (route the line, measure)

Modelled instruments (state them with the figures): SMU 2 ms per transaction and 1 NPLC at
60 Hz; board at 115200 baud, 2 ms command overhead, 5 ms relay settling, 16.7 ms converter
integration (1 NPLC at 60 Hz), 0.2 ms DAC settling, 1.5 ms conversion.

Usage: python scripts/bench_lab.py [--arrays N] [--slow-arrays N] [--cycles 3] [--lot L --die D] [--smoke]
(the slow strategies are measured on fewer arrays and scaled to the die; the script says so;
``--smoke``: one array, one cycle, the fast and scan strategies only)
"""

from __future__ import annotations

import argparse
import time
import tomllib
from typing import Any

from _lab_die import STATION, add_die_options, lab_die
from _smoke import bench_description, parse_args

from mtj_hil.protocols import CharacterizationPlan, MemorySink, characterize_die
from mtj_hil.sim import SimulatedChip
from mtj_hil.sim.lab.lab import VirtualLab
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict


def run(
    strategy: str, n_arrays: int, cycles: int, die: tuple[str, int, int] | None = None
) -> dict[str, Any]:
    """Characterise ``n_arrays`` arrays over a fresh virtual lab with one read strategy, on
    the station file's die or die ``(profile, lot, die)``."""
    data = tomllib.loads(STATION.read_text(encoding="utf-8"))
    if strategy == "naive":
        data["station"]["read_path"] = "smu"
    cfg = data.pop("virtual_lab")
    profile, lot_seed, die_index = (
        die if die is not None else (data["die"]["profile"], cfg["lot_seed"], cfg["die"])
    )
    data["die"]["profile"] = profile
    lab = VirtualLab(
        profile,
        lot_seed,
        die_index,
        smu_latency=cfg["smu_latency"],
        line_frequency=data["station"]["line_frequency"],
        board_firmware="1.3.0" if strategy == "fast" else "1.2.0",
    )
    start = time.perf_counter()
    with lab:
        data["controller"]["url"] = lab.controller_url
        data["smu"]["sense"]["resource"] = lab.smu_resource
        with open_station(station_from_dict(data, STATION)) as chip:
            if strategy == "vector":
                chip._v11 = False  # behave as with a firmware 1.0 board: no SCAN, no ARNG
            lab.clock.reset()
            lab.board.integration_s, lab.board.conversions = 0.0, 0
            lab.board.pulses.clear()
            plan = CharacterizationPlan(arrays=tuple(range(n_arrays)), cycles=cycles)
            result = characterize_die(chip, MemorySink(), plan)
            modelled, transactions = lab.clock.now, lab.clock.transactions
    pulses = sum(width for *_, width in lab.board.pulses)
    if strategy == "naive":
        integration = lab.smu.points_measured / lab.smu.line_frequency  # 1 NPLC each
    else:
        integration = lab.board.integration_s  # converter integration of every conversion
    return {
        "modelled": modelled,
        "floor": pulses + integration,
        "transactions": transactions,
        "wall": time.perf_counter() - start,
        "codes": result.codes,
        "plan": plan,
        "die": (lot_seed, die_index),
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


SMOKE = {"arrays": 1, "cycles": 1, "fast_only": True}
"""What ``--smoke`` shrinks: one array, one cycle, the fast and scan strategies."""


def main(argv: list[str] | None = None) -> None:
    """Run every strategy and print the table."""
    parser = argparse.ArgumentParser(description=bench_description(__doc__))
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
    parser.add_argument("--fast-only", action="store_true", help="fast and scan strategies only")
    add_die_options(parser)
    args = parse_args(parser, SMOKE, argv)
    strategies = [("fast", args.arrays), ("scan", args.arrays)]
    if not args.fast_only:
        strategies += [("vector", args.slow_arrays), ("naive", args.slow_arrays)]
    rows = []
    results = {}
    for strategy, n in strategies:
        r = run(strategy, n, args.cycles, lab_die(args, parser))
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
        "t_route 5 ms, t_int 16.7 ms, t_dac 0.2 ms, t_read 1.5 ms (firmware 1.3 for fast: "
        "conversions overlap the next row, t_step 10 us; 1.2 for the others)"
    )
    job_floor = min(r[3] for r in rows[:2])
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
        f"job floor: {job_floor:.1f} s, the least own floor of the converter strategies (all "
        "lines converted in parallel), the least any strategy must spend."
    )
    print("Figures measured on fewer arrays are scaled linearly to the die.")
    print(agreement(results["fast"]))
    fast = results["fast"]
    print(
        f"characterisation of {args.arrays} arrays, fast strategy: modelled {fast['modelled']:.1f} s, "
        f"floor {fast['floor']:.1f} s, {fast['transactions']} bus transactions"
    )
    print(f"characterisation efficiency: {fast['floor'] / fast['modelled']:.3f}")


if __name__ == "__main__":
    main()
