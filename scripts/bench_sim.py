"""Benchmark of the simulated die: characterisation time, read cost, defect-detection quality.

Prints the figures of the foundation issue:
1. wall time of a full characterisation of one ``1t1r-20k`` die (20,000 devices, 3 write-read
   cycles per state), in memory and into an HDF5 run file;
2. a crossbar read of 10,000 input vectors on one array against the bare numpy product of
   the same conductances (ratio);
3. defect detection over a lot of simulated dies at default statistics: precision and recall
   per defect type.

Usage: python scripts/bench_sim.py [--dies 36] [--repeats 5] [--arrays N] [--vectors 10000]
       [--smoke]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
from _smoke import parse_args

from mtj_hil.protocols import CharacterizationPlan, MemorySink, characterize_die
from mtj_hil.protocols.defects.codes import DEFECT_CLASSES, DefectCode
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.sim import SimulatedChip, load_profile


def best_and_median(fn: Callable[[], object], repeats: int) -> tuple[float, float]:
    """Best and median wall time (s) of ``repeats`` calls of ``fn``."""
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times), statistics.median(times)


def planned_arrays(n_arrays: int | None) -> tuple[int, ...]:
    """The first ``n_arrays`` arrays of a ``1t1r-20k`` die (None: all of them)."""
    total = load_profile("1t1r-20k").geometry.n_arrays
    return tuple(range(min(n_arrays or total, total)))


def bench_characterisation(repeats: int, n_arrays: int | None) -> None:
    """Figure 1: wall time of characterising the die, in memory and into a run file."""
    profile = load_profile("1t1r-20k")
    plan = CharacterizationPlan(arrays=planned_arrays(n_arrays), cycles=3)
    g = profile.geometry
    devices = len(plan.arrays) * g.rows * g.cols

    def in_memory() -> None:
        characterize_die(SimulatedChip.from_lot(profile, 0, 7), MemorySink(), plan)

    with tempfile.TemporaryDirectory() as tmp:
        counter = iter(range(10_000))

        def to_file() -> None:
            chip = SimulatedChip.from_lot(profile, 0, 7)
            run_characterization(
                chip, Path(tmp) / f"run{next(counter)}.h5", die_id="bench", plan=plan
            )

        mem = best_and_median(in_memory, repeats)
        disk = best_and_median(to_file, repeats)
    chip = SimulatedChip.from_lot(profile, 0, 7)
    characterize_die(chip, MemorySink(), plan)
    print(
        f"1. full characterisation, 1t1r-20k die, {devices:,} devices, 3 write-read cycles "
        "per state"
    )
    print(
        f"   chip calls: {chip.program_calls} program, {chip.read_calls} read "
        f"({chip.vectors_read} input vectors)"
    )
    print(f"   in memory        best {mem[0]:6.3f} s   median {mem[1]:6.3f} s   (goal < 2 s)")
    print(f"   into a run file  best {disk[0]:6.3f} s   median {disk[1]:6.3f} s")


def bench_read(repeats: int, vectors: int) -> None:
    """Figure 2: a crossbar read against the bare numpy product of the same conductances."""
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 7)
    rng = np.random.default_rng(0)
    v = rng.uniform(0.0, 0.1, size=(vectors, chip.layout.rows))
    g = chip.die.effective_conductance(0)
    chip.read(0, v)
    n = 50
    read_t = best_and_median(lambda: [chip.read(0, v) for _ in range(n)], repeats)
    bare_t = best_and_median(lambda: [v @ g for _ in range(n)], repeats)
    ratio = read_t[1] / bare_t[1]
    print(
        f"2. crossbar read of {vectors:,} input vectors on one 25 x 25 array (median of "
        f"{repeats} x {n} reads)"
    )
    print(f"   SimulatedChip.read  {1e3 * read_t[1] / n:7.3f} ms")
    print(f"   bare numpy V @ G    {1e3 * bare_t[1] / n:7.3f} ms")
    print(f"   ratio {ratio:.2f} (goal <= 3; read adds validation, safety check, noise)")


def bench_detection(n_dies: int, n_arrays: int | None) -> None:
    """Figure 3: precision and recall per defect class over a lot of simulated dies."""
    profile = load_profile("1t1r-20k")
    plan = CharacterizationPlan(arrays=planned_arrays(n_arrays))
    tp = np.zeros(len(DefectCode))
    fp = np.zeros(len(DefectCode))
    fn = np.zeros(len(DefectCode))
    start = time.perf_counter()
    for die in range(n_dies):
        chip = SimulatedChip.from_lot(profile, 0, die)
        found = characterize_die(chip, MemorySink(), plan).codes
        truth = chip.die.defect[list(plan.arrays)]
        for code in DefectCode:
            tp[code] += np.sum((found == code) & (truth == code))
            fp[code] += np.sum((found == code) & (truth != code))
            fn[code] += np.sum((found != code) & (truth == code))
    elapsed = time.perf_counter() - start
    print(
        f"3. defect detection on {n_dies} simulated dies (lot 0) at default statistics "
        f"({elapsed:.1f} s)"
    )
    print(f"   {'class':9s} {'devices':>8s} {'precision':>10s} {'recall':>8s}  goal")
    goals = {
        DefectCode.SHORT: 0.99,
        DefectCode.OPEN: 0.99,
        DefectCode.STUCK_P: 0.95,
        DefectCode.STUCK_AP: 0.95,
        DefectCode.GOOD: None,
    }
    for code in DEFECT_CLASSES:
        precision = tp[code] / (tp[code] + fp[code]) if tp[code] + fp[code] else 1.0
        recall = tp[code] / (tp[code] + fn[code]) if tp[code] + fn[code] else 1.0
        goal = goals[code]
        verdict = (
            ""
            if goal is None
            else (f">= {goal}  " + ("ok" if min(precision, recall) >= goal else "MISSED"))
        )
        print(
            f"   {code.name:9s} {int(tp[code] + fn[code]):8d} {precision:10.4f} "
            f"{recall:8.4f}  {verdict}"
        )
    uncertain = int(fp[DefectCode.UNCERTAIN])
    print(
        f"   {'UNCERTAIN':9s} {uncertain:8d} devices called uncertain (each counted above as "
        "a miss of its true class)"
    )


SMOKE = {"dies": 1, "repeats": 1, "arrays": 2, "vectors": 1000}
"""What ``--smoke`` shrinks."""


def main(argv: list[str] | None = None) -> None:
    """Print the three figures."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--dies", type=int, default=36, help="dies for the detection figure")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats")
    parser.add_argument(
        "--arrays", type=int, default=None, help="first N arrays of each die (default all)"
    )
    parser.add_argument(
        "--vectors", type=int, default=10_000, help="input vectors per crossbar read"
    )
    args = parse_args(parser, SMOKE, argv)
    bench_characterisation(args.repeats, args.arrays)
    bench_read(args.repeats, args.vectors)
    bench_detection(args.dies, args.arrays)


if __name__ == "__main__":
    main()
