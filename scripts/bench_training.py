"""The issue-23 table: every training method on a lot of each profile, with wall time and
peak memory.

Runs ``mtj-hil experiment borders`` as a researcher would (MNIST-5k at 10x10, 100-64-10, a
lot no test uses, several seeds; mnist5k tests on cross-validation fold ``seed % 5``) for
the ``1t1r-20k`` and ``1t1r-early-process`` profiles and prints, per profile, the software
error and each method's mean difference to it with the die-seeds within 1 point, the
per-die claims pooled over seeds with their power, the wall time split into
characterisation, per-seed fixed cost and per-die-seed cost, the projected time of the full
36 dies x 3 seeds, and the peak memory (traced numpy/Python allocations and process RSS).

Usage: python scripts/bench_training.py [--dies 36] [--seeds 3] [--lot-seed 1000]
       [--profiles 1t1r-20k,1t1r-early-process] [--workers 2] [--validation 0.2]
       [--stats-epochs 20 --stats-lr 0.01 --stats-shrink 0.2] [--finetune-lr 0.02
       --finetune-shrink 1] [--shared-rows 0] [--no-bias-correction] [--compensation-budget 0.2]
       [--no-compensation-training] [--smoke]

``--validation F`` tests on a held-out fraction F of the training set (the test images are
not read): for choosing settings.
"""

from __future__ import annotations

import argparse
import resource
import time
import tracemalloc
from collections import defaultdict

import numpy as np
from _smoke import bench_description, parse_args

from mtj_hil.experiments.borders import BordersConfig, BordersResult, run_borders_seeds
from mtj_hil.experiments.claims import claims_rows
from mtj_hil.training.recalibration import components_cost

COLUMNS = (
    "unaware",
    "unaware_placed",
    "defect_aware",
    "defect_aware_compensated",
    "statistics_aware",
    "lea",
    "lea_statistics",
    "lea_recalibrated",
    "statistics_recalibrated",
    "lea_statistics_recalibrated",
    "statistics_compensated",
    "lea_statistics_compensated",
)
LABEL = {
    "unaware": "unaware",
    "unaware_placed": "unaware, placed",
    "defect_aware": "defect-aware",
    "defect_aware_compensated": "defect-aware + comp.",
    "statistics_aware": "statistics-aware",
    "lea": "lea",
    "lea_statistics": "lea + statistics-aware",
    "lea_recalibrated": "lea + recal.",
    "statistics_recalibrated": "statistics-aware + recal.",
    "lea_statistics_recalibrated": "lea + stats + recal.",
    "statistics_compensated": "statistics-aware + comp.",
    "lea_statistics_compensated": "lea + stats + comp.",
}

SMOKE = {
    "dies": 1,
    "seeds": 1,
    "dataset": "digits",
    "hidden": 12,
    "epochs": 2,
    "finetune_epochs": 1,
    "stats_epochs": 1,
    "compensation_epochs": 1,
    "pool_size": 4,
}
"""What ``--smoke`` shrinks."""


class StageClock:
    """A ``progress`` callback that adds up the wall time of each stage (s)."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self._open: dict[str, float] = {}

    def __call__(self, stage: str, done: int, total: int) -> None:
        now = time.perf_counter()
        if stage in self._open:
            self.seconds[stage] += now - self._open.pop(stage)
        if done < total:
            self._open[stage] = now


def cell(results: list[BordersResult], method: str) -> str:
    """``+x.xx pt (k/N)``: mean difference to software over die-seeds, and those within 1 pt."""
    diffs = np.concatenate([r.errors(method) - r.software_wrong / r.n_test for r in results])
    within = int(np.sum(diffs <= 0.01 + 1e-12))
    return f"{100 * diffs.mean():+.2f} pt ({within}/{diffs.size})"


def crossbar_macs(sizes: list[int]) -> int:
    """Multiply-adds per input the crossbar does (one per weight)."""
    return sum(a * b for a, b in zip(sizes[:-1], sizes[1:], strict=True))


def main(argv: list[str] | None = None) -> None:
    """Run both profiles and print the table, the claims, the times and the memory."""
    ap = argparse.ArgumentParser(description=bench_description(__doc__))
    ap.add_argument("--dies", type=int, default=36, help="dies of the lot per profile")
    ap.add_argument("--seeds", type=int, default=3, help="training seeds (networks) per profile")
    ap.add_argument("--first-seed", type=int, default=0, help="seeds FIRST .. FIRST+SEEDS-1")
    ap.add_argument("--lot-seed", type=int, default=1000, help="a lot no test uses")
    ap.add_argument(
        "--profiles", default="1t1r-20k,1t1r-early-process", help="die profiles, comma-separated"
    )
    ap.add_argument(
        "--dataset", default=BordersConfig.dataset, help="mnist5k | digits | idx (see borders)"
    )
    ap.add_argument(
        "--hidden", type=int, default=BordersConfig.hidden[0], help="hidden-layer width"
    )
    ap.add_argument(
        "--epochs", type=int, default=BordersConfig.epochs, help="epochs of the ideal training"
    )
    ap.add_argument(
        "--finetune-epochs",
        type=int,
        default=BordersConfig.finetune_epochs,
        help="epochs of each per-die defect-aware fine-tuning",
    )
    ap.add_argument(
        "--stats-epochs",
        type=int,
        default=BordersConfig.stats_epochs,
        help="epochs of the statistics-aware training",
    )
    ap.add_argument(
        "--stats-lr",
        type=float,
        default=BordersConfig.stats_lr,
        help="Adam step of the statistics-aware training",
    )
    ap.add_argument(
        "--stats-shrink",
        type=float,
        default=BordersConfig.stats_shrink,
        help="factor on the ideal network's latent weights before statistics-aware training",
    )
    ap.add_argument(
        "--finetune-lr",
        type=float,
        default=BordersConfig.finetune_lr,
        help="Adam step of the fine-tunings",
    )
    ap.add_argument(
        "--finetune-shrink",
        type=float,
        default=BordersConfig.finetune_shrink,
        help="factor on the latent weights before each per-die fine-tuning",
    )
    ap.add_argument(
        "--shared-rows",
        type=int,
        default=BordersConfig.shared_rows,
        help="first-layer rows given to copies of the most important inputs (0: none)",
    )
    ap.add_argument(
        "--recal-components",
        type=int,
        default=BordersConfig.recal_components,
        help="rank of the recalibration's input-dependent part (0: scale and shift only)",
    )
    ap.add_argument(
        "--finetune-from",
        dest="finetune_from",
        default=BordersConfig.finetune_from,
        choices=("base", "statistics"),
        help="network each per-die fine-tuning starts from",
    )
    ap.add_argument(
        "--validation",
        type=float,
        default=0.0,
        help="test on this held-out fraction of the training set instead (choosing settings)",
    )
    ap.add_argument(
        "--stats-from",
        dest="stats_from",
        default=BordersConfig.stats_from,
        choices=("base", "software"),
        help="network statistics-aware training starts from",
    )
    ap.add_argument(
        "--pool-size",
        type=int,
        default=BordersConfig.pool_size,
        help="die realisations pre-drawn for statistics-aware training",
    )
    ap.add_argument(
        "--no-weight-routing",
        dest="weight_routing",
        action="store_false",
        help="deploy on the weight-blind defect-aware placement (for comparison)",
    )
    ap.add_argument(
        "--no-bias-correction",
        dest="bias_correction",
        action="store_false",
        default=BordersConfig.bias_correction,
        help="deploy the statistics-aware network without its per-die data-free bias "
        "correction (for comparison)",
    )
    ap.add_argument(
        "--compensation-budget",
        type=float,
        default=BordersConfig.compensation_budget,
        help="fraction of the weights the data-free compensation corrects digitally "
        "(columns statistics-aware + comp., lea + stats + comp.; negative: not evaluated)",
    )
    ap.add_argument(
        "--compensation-epochs",
        type=int,
        default=BordersConfig.compensation_epochs,
        help="epochs each die's defect-aware network is fine-tuned further for the "
        "compensation budget (the defect-aware + comp. column)",
    )
    ap.add_argument(
        "--no-compensation-training",
        dest="compensation_training",
        action="store_false",
        default=BordersConfig.compensation_training,
        help="deploy the compensation with the statistics-aware network itself, not one "
        "trained against what the compensation leaves (for comparison)",
    )
    ap.add_argument(
        "--workers",
        type=int,
        default=2,
        help="processes the per-die work is spread over (default 2: the goal's 2 cores)",
    )
    args = parse_args(ap, SMOKE, argv)

    rows, claims, times = [], [], []
    tracemalloc.start()
    t_all = time.perf_counter()
    budget = args.compensation_budget
    budget = None if budget is None or budget < 0 else budget
    columns = [m for m in COLUMNS if budget is not None or not m.endswith("_compensated")]
    for profile in args.profiles.split(","):
        config = BordersConfig(
            dataset=args.dataset,
            profile=profile,
            dies=args.dies,
            lot_seed=args.lot_seed,
            hidden=(args.hidden,),
            epochs=args.epochs,
            finetune_epochs=args.finetune_epochs,
            stats_epochs=args.stats_epochs,
            stats_lr=args.stats_lr,
            stats_shrink=args.stats_shrink,
            finetune_lr=args.finetune_lr,
            finetune_shrink=args.finetune_shrink,
            shared_rows=args.shared_rows,
            validation=args.validation,
            finetune_from=args.finetune_from,
            stats_from=args.stats_from,
            recal_components=args.recal_components,
            pool_size=args.pool_size,
            weight_routing=args.weight_routing,
            bias_correction=args.bias_correction,
            compensation_budget=budget,
            compensation_training=args.compensation_training,
            compensation_epochs=args.compensation_epochs,
            workers=args.workers,
        )
        clock = StageClock()
        tracemalloc.reset_peak()
        t0 = time.perf_counter()
        results = run_borders_seeds(
            config, range(args.first_seed, args.first_seed + args.seeds), clock
        )
        wall = time.perf_counter() - t0
        peak = tracemalloc.get_traced_memory()[1] / 1e6
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1e3
        r0 = results[0]
        sw = np.mean([r.software_wrong / r.n_test for r in results])
        rows.append([profile, f"{100 * sw:.2f} %", *[cell(results, m) for m in columns]])
        claims += [[profile, *c] for c in claims_rows(results) if c[0] in columns]
        char = clock.seconds["characterise"]
        per_die = clock.seconds["dies"] / (args.dies * args.seeds)
        fixed = (wall - char - clock.seconds["dies"]) / args.seeds
        full = 36 * char / args.dies + 3 * (fixed + 36 * per_die)
        times.append((profile, wall, char, fixed, per_die, full, peak, rss, r0))

    r0 = times[0][-1]
    print(
        f"training methods, {r0.dataset}, {'-'.join(map(str, r0.sizes))}, {args.dies} dies of "
        f"lot {args.lot_seed} x {args.seeds} seeds, {r0.n_test} test images per die-seed; "
        f"LEA copies {r0.lea_copies} ({r0.lea_device_cost:.2f}x devices); recalibration "
        f"rank {args.recal_components} ({components_cost(r0.sizes, args.recal_components)} digital "
        f"multiply-adds per input beside the crossbar's {crossbar_macs(r0.sizes)}); weight "
        f"routing {'on' if args.weight_routing else 'off'}; statistics-aware bias correction "
        f"{'on' if args.bias_correction else 'off'}; data-free compensation "
        + (
            "off"
            if budget is None
            else f"budget {budget:g} ({round(budget * crossbar_macs(r0.sizes))} digital "
            "multiply-adds per input), network trained against its residual "
            f"{'on' if args.compensation_training else 'off'}; defect-aware + comp.: the "
            f"defect-aware network fine-tuned {args.compensation_epochs} more epochs for it"
        )
    )
    print()
    print("| profile | software | " + " | ".join(LABEL[m] for m in columns) + " |")
    print("|---" * (2 + len(columns)) + "|")
    for row in rows:
        print("| " + " | ".join(row) + " |")
    print()
    print(
        "per die pooled over seeds | method | mean diff | die-seeds <= 1 pt | dies <= 1 pt | "
        "dies within 1 pt "
        "(95 %) | dies > 1 pt worse (95 %) | median power | power at 0"
    )
    for c in claims:
        print("  " + " | ".join([c[0], LABEL[c[1]], *c[2:]]))
    print()
    print(
        f"{'profile':<20}{'wall s':>9}{'char. s':>9}{'seed s':>9}{'die-seed s':>12}"
        f"{'36x3 s':>9}{'peak MB':>9}{'RSS MB':>9}"
    )
    for profile, wall, char, fixed, per_die, full, peak, rss, _ in times:
        print(
            f"{profile:<20}{wall:>9.1f}{char:>9.1f}{fixed:>9.1f}{per_die:>12.2f}"
            f"{full:>9.0f}{peak:>9.0f}{rss:>9.0f}"
        )
    total = time.perf_counter() - t_all
    worst = max(t[5] for t in times)
    print(
        f"total wall time {total:.0f} s; projected 36 dies x 3 seeds: {worst:.0f} s per profile "
        f"(goal < 300 s on 2 cores): {'OK' if worst < 300 else 'OVER'}"
    )


if __name__ == "__main__":
    main()
