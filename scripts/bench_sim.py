"""Benchmark of the simulated die: characterisation time, read cost, defect-detection quality.

Prints the figures of the foundation issue and of issue 21 (the simulator's own speed):
1. wall time of a full characterisation of one ``1t1r-20k`` die (20,000 devices, 3 write-read
   cycles per state), in memory and into an HDF5 run file (goal < 0.1 s in memory);
2. a crossbar read of 10,000 input vectors on one array against the bare numpy product of
   the same conductances: the median over interleaved pairs of the ratio of their times
   (goal <= 1.5), for analog inputs (uniform 0-0.1 V) and for a binary network's inputs
   (+-0.1 V);
3. switching characterisation of a whole die (32 arrays, the default plan) in the simulator
   (goal < 60 s);
4. defect detection over a lot of simulated dies at default statistics: precision and recall
   per defect type.

The machine is shared: BLAS runs single-threaded (both sides of the read ratio alike) and
each figure also gives the process CPU time, which other processes load less than wall time.

Usage: python scripts/bench_sim.py [--dies 36] [--repeats 5] [--arrays N] [--vectors 10000]
       [--smoke]
"""

from __future__ import annotations

import os

for _var in ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")  # before numpy loads: one BLAS thread on a shared machine

import argparse  # noqa: E402
import dataclasses  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Callable  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from _smoke import bench_description, parse_args  # noqa: E402

from mtj_hil.protocols import CharacterizationPlan, MemorySink, characterize_die  # noqa: E402
from mtj_hil.protocols.defects.codes import DEFECT_CLASSES, DefectCode  # noqa: E402
from mtj_hil.protocols.switching.procedure import (  # noqa: E402
    MemorySwitchingSink,
    SwitchingPlan,
    default_amplitudes,
    default_widths,
    measure_switching_die,
)
from mtj_hil.runs.jobs.characterization import run_characterization  # noqa: E402
from mtj_hil.sim import SimulatedChip, load_profile  # noqa: E402


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


def best_and_median_cpu(fn: Callable[[], object], repeats: int) -> tuple[float, float, float]:
    """Best and median wall time and best CPU time (s) of ``repeats`` calls."""
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return min(wall), statistics.median(wall), min(cpu)


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

        in_memory()  # warm-up: imports, caches
        mem = best_and_median_cpu(in_memory, max(repeats, 5))
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
    print(
        f"   in memory        best {mem[0]:6.3f} s   median {mem[1]:6.3f} s   CPU best "
        f"{mem[2]:6.3f} s   (goal < 0.1 s)"
    )
    print(f"   into a run file  best {disk[0]:6.3f} s   median {disk[1]:6.3f} s")
    print(f"whole-die characterisation in memory: {mem[0]:.3f} s (CPU {mem[2]:.3f} s)")


def read_ratio(
    chip: SimulatedChip, v: np.ndarray, bare: Callable[[], object], repeats: int
) -> tuple[float, float, float]:
    """Median ratio, over interleaved pairs, of ``chip.read(0, v)`` to ``bare()``, and the
    median times (s) of each side."""
    chip.read(0, v)
    n, pairs = 10, 20 * repeats
    ratios, reads, bares = [], [], []
    for _ in range(pairs):  # interleaved, so both sides see the same machine load
        t0 = time.perf_counter()
        for _ in range(n):
            chip.read(0, v)
        t1 = time.perf_counter()
        for _ in range(n):
            bare()
        t2 = time.perf_counter()
        reads.append((t1 - t0) / n)
        bares.append((t2 - t1) / n)
        ratios.append(reads[-1] / bares[-1])
    return statistics.median(ratios), statistics.median(reads), statistics.median(bares)


def bare_bias_law(v: np.ndarray, g: np.ndarray, gk: np.ndarray) -> Callable[[], np.ndarray]:
    """``v @ g + (v * v * v) @ gk`` in bare numpy, into buffers made once: written as one
    expression, its four 2 MB temporaries were page-faulted afresh on some runs (whether
    glibc hands them out by ``mmap`` depends on what the process did before), which
    doubled its time and halved the read's ratio to it."""
    out, term, cube = (
        np.empty((v.shape[0], g.shape[1])),
        np.empty((v.shape[0], g.shape[1])),
        np.empty(v.shape),
    )

    def bare() -> np.ndarray:
        np.matmul(v, g, out=out)
        np.multiply(v, v, out=cube)
        np.multiply(cube, v, out=cube)
        np.matmul(cube, gk, out=term)
        np.add(out, term, out=out)
        return out

    return bare


def bench_read(repeats: int, vectors: int) -> None:
    """Figure 2: a crossbar read against the bare numpy product of the same conductances.

    Every shipped profile has a bias law, ``I = V @ G0 + V**3 @ (G0 k)``: two products of
    equal cost where an ohmic die has one. So the read is also timed against the bare numpy
    expression of that same physics, and on the same die made ohmic (``[bias]`` removed),
    which separates the simulator's own overhead from the physics it computes.
    """
    profile = load_profile("1t1r-20k")
    chip = SimulatedChip.from_lot(profile, 0, 7)
    rng = np.random.default_rng(0)
    v = rng.uniform(0.0, 0.1, size=(vectors, chip.layout.rows))
    g = chip.die.effective_conductance(0)
    gk = g * chip.die.curvature(0)  # no leaks on this profile: every barrier device curves
    ratio, read_t, bare_t = read_ratio(chip, v, lambda: v @ g, repeats)
    physics, _, physics_t = read_ratio(chip, v, bare_bias_law(v, g, gk), repeats)
    ohmic_chip = SimulatedChip.from_lot(dataclasses.replace(profile, bias=None), 0, 7)
    g_ohmic = ohmic_chip.die.effective_conductance(0)
    ohmic, _, _ = read_ratio(ohmic_chip, v, lambda: v @ g_ohmic, repeats)
    # a binary network layer's inputs: every line at +V_read or -V_read
    signs = rng.choice([-0.1, 0.1], size=v.shape)
    network, network_t, network_bare_t = read_ratio(chip, signs, lambda: signs @ g, repeats)
    pairs = 20 * repeats
    print(
        f"2. crossbar read of {vectors:,} input vectors on one 25 x 25 array (median of "
        f"{pairs} interleaved pairs of 10 reads)"
    )
    print(f"   SimulatedChip.read                    {1e3 * read_t:7.3f} ms")
    print(f"   bare numpy V @ G                      {1e3 * bare_t:7.3f} ms")
    print(f"   bare numpy V @ G0 + V**3 @ (G0 k)     {1e3 * physics_t:7.3f} ms")
    print(f"   ratio to the bias law in bare numpy   {physics:.2f}")
    print(f"   ratio on the same die made ohmic      {ohmic:.2f}")
    print(f"   ratio {ratio:.2f} (goal <= 1.5; read adds validation, safety check, disturb, noise)")
    print(f"simulator read: {ratio:.2f}x bare matmul")
    print(
        f"   network inputs (+-0.1 V): read {1e3 * network_t:.3f} ms, bare V @ G "
        f"{1e3 * network_bare_t:.3f} ms (one magnitude: V**3 = 0.01 V, one product)"
    )
    print(f"simulator read, network inputs: {network:.2f}x bare matmul")


def bench_switching(n_arrays: int | None) -> None:
    """Figure 3: switching characterisation of ``n_arrays`` arrays (None: the die)."""
    profile = load_profile("1t1r-20k")
    chip = SimulatedChip.from_lot(profile, 0, 30)
    layout = chip.layout
    arrays = tuple(range(min(n_arrays or layout.n_arrays, layout.n_arrays)))
    plan = SwitchingPlan(
        arrays=arrays, amplitudes=default_amplitudes(layout), widths=default_widths(layout)
    )
    w, c = time.perf_counter(), time.process_time()
    measure_switching_die(chip, MemorySwitchingSink(), plan)
    wall, cpu = time.perf_counter() - w, time.process_time() - c
    label = "a whole die" if len(arrays) == layout.n_arrays else f"{len(arrays)} arrays"
    print(
        f"3. switching characterisation of {label} ({len(arrays)} arrays, default plan) in the "
        f"simulator: {chip.program_calls:,} pulses, {chip.read_calls:,} reads"
    )
    print(f"die switching in the simulator: {wall:.1f} s (CPU {cpu:.1f} s; goal < 60 s)")


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
        f"4. defect detection on {n_dies} simulated dies (lot 0) at default statistics "
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
        goal = goals.get(code)
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


SMOKE = {"dies": 1, "repeats": 1, "arrays": 2, "vectors": 1000, "switching_arrays": 1}
"""What ``--smoke`` shrinks."""


def main(argv: list[str] | None = None) -> None:
    """Print the three figures."""
    parser = argparse.ArgumentParser(description=bench_description(__doc__))
    parser.add_argument("--dies", type=int, default=36, help="dies for the detection figure")
    parser.add_argument("--repeats", type=int, default=5, help="timing repeats")
    parser.add_argument(
        "--arrays", type=int, default=None, help="first N arrays of each die (default all)"
    )
    parser.add_argument(
        "--vectors", type=int, default=10_000, help="input vectors per crossbar read"
    )
    parser.add_argument(
        "--switching-arrays",
        type=int,
        default=None,
        help="arrays for the switching figure (default all)",
    )
    args = parse_args(parser, SMOKE, argv)
    bench_characterisation(args.repeats, args.arrays)
    bench_read(args.repeats, args.vectors)
    bench_switching(args.switching_arrays)
    bench_detection(args.dies, args.arrays)


if __name__ == "__main__":
    main()
