"""Defect detection on every shipped 1T1R profile: precision, recall, false defects, uncertainty.

For each profile, ``--dies`` dies of lot ``--lot`` (9001 by default: no test uses it) are
characterised in memory through the ``Chip`` interface (3 cycles, 1 read, as the CLI does),
classified on each device's own evidence, and compared with the simulator's true defect map.
Printed per profile: precision and recall per class (an UNCERTAIN device counts as a miss),
good devices called defective (rate), uncertain devices (fraction), the confusion matrix
(true class in rows), the Bayes limit for the level-decided classes (what a classifier that
knew the true distributions would reach), the classification time and the whole in-memory
characterisation time per die.

With ``--bias auto`` (the default, as the CLI does) every state is also read at the die's
largest read voltage when the die allows it (:func:`mtj_hil.protocols.defects.bias_signature.default_bias_voltage`),
and each device's bias signature joins the evidence; ``--bias off`` reads at one voltage.

Run: ``python scripts/bench_defects.py`` (all profiles, 36 dies each; about a minute per
profile on one core) or e.g. ``--dies 6 --profiles 1t1r-low-tmr,1t1r-early-process``;
``--smoke`` runs every profile on a few arrays of one die in seconds.
"""

from __future__ import annotations

import argparse
import dataclasses
import time

import numpy as np
from _smoke import parse_args
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from mtj_hil.protocols.characterize.procedure import (
    CharacterizationPlan,
    MemorySink,
    characterize_die,
)
from mtj_hil.protocols.defects.bias_signature import default_bias_voltage
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.protocols.defects.detect import classify_reads
from mtj_hil.sim.chip import SimulatedChip
from mtj_hil.sim.profile import available_profiles, load_profile

CLASSES = list(DefectCode)
DEFECTS = (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP)
GOALS = {"SHORT": 0.99, "OPEN": 0.99, "STUCK_P": 0.97, "STUCK_AP": 0.97}


def run_profile(
    name: str,
    dies: int,
    lot: int,
    cycles: int,
    remeasure: int,
    progress: Progress,
    task: TaskID,
    n_arrays: int | None = None,
    bias: bool = True,
) -> tuple[np.ndarray, np.ndarray, float, float, list[str], dict[str, list[float]]]:
    """Confusion matrix (truth x found, 5 x 6) and timings over ``dies`` dies of ``name``
    (a shipped profile or a TOML path), measuring the first ``n_arrays`` arrays (all: None)."""
    prof = load_profile(name)
    confusion = np.zeros((5, 6), dtype=np.int64)
    oracle = np.zeros((5, 6), dtype=np.int64)
    t_classify, t_die, warnings, bias_sep = [], [], [], []
    for k in range(dies):
        chip = SimulatedChip.from_lot(prof, lot, k)
        sink = MemorySink()
        planned = tuple(range(min(n_arrays or chip.layout.n_arrays, chip.layout.n_arrays)))
        plan = CharacterizationPlan(arrays=planned, cycles=cycles, remeasure_cycles=remeasure)
        if bias:
            v2 = default_bias_voltage(chip.layout, plan.read_voltage)
            plan = dataclasses.replace(plan, bias_read_voltage=v2)
        t0 = time.perf_counter()
        result = characterize_die(chip, sink, plan)
        t_die.append(time.perf_counter() - t0)
        arrays = sorted(sink.arrays)
        gp = np.stack([sink.arrays[a].g_after_p for a in arrays], axis=2)
        ga = np.stack([sink.arrays[a].g_after_ap for a in arrays], axis=2)
        hp = ha = None
        if plan.bias_read_voltage is not None:
            hp = np.stack([sink.arrays[a].g_high_p for a in arrays], axis=2)
            ha = np.stack([sink.arrays[a].g_high_ap for a in arrays], axis=2)
        t0 = time.perf_counter()
        classify_reads(gp, ga, g_high_p=hp, g_high_ap=ha)
        t_classify.append(time.perf_counter() - t0)
        truth = chip.die.defect[list(planned)]
        np.add.at(confusion, (truth.ravel(), result.codes.ravel()), 1)
        np.add.at(oracle, (truth.ravel(), _oracle(prof, truth, result.g_p).ravel()), 1)
        warnings.extend(result.warnings)
        fit = result.model.get("bias_signature") or {}
        if fit.get("used"):
            bias_sep.append(fit["stuck_state_separation_sigma"])
        progress.advance(task)
    extra = {"bias_sep": bias_sep}
    return confusion, oracle, float(np.mean(t_classify)), float(np.mean(t_die)), warnings, extra


def _oracle(prof, truth: np.ndarray, g: np.ndarray) -> np.ndarray:
    """What a classifier that knew the die's true distributions and which devices switch
    would call each device (no UNCERTAIN): the Bayes limit for telling short, stuck-P and
    stuck-AP apart by their measured level. Good and open devices keep their true class."""
    r, d = prof.resistance, prof.defects
    x = np.log(np.clip(g, 1e-15, None))
    comps = (
        (DefectCode.SHORT, np.log(d.short_g_median), d.short_g_sigma, d.short_rate),
        (DefectCode.STUCK_P, -np.log(r.r_p_median), r.r_p_sigma, d.stuck_p_rate),
        (DefectCode.STUCK_AP, -np.log(r.r_ap_median), r.r_ap_sigma, d.stuck_ap_rate),
    )
    ll = np.stack(
        [np.log(max(w, 1e-300)) - np.log(s) - 0.5 * ((x - m) / s) ** 2 for _, m, s, w in comps]
    )
    kinds = np.array([int(c) for c, *_ in comps], dtype=np.uint8)
    level = np.isin(truth, kinds)
    return np.where(level, kinds[ll.argmax(axis=0)], truth)


def scores(confusion: np.ndarray) -> dict[str, tuple[float, float, int]]:
    """Precision, recall (UNCERTAIN counts as a miss) and support per defect class."""
    out = {}
    for c in DEFECTS:
        tp = confusion[c, c]
        called = confusion[:, c].sum()
        support = confusion[c].sum()
        out[c.name] = (
            tp / called if called else float("nan"),
            tp / support if support else float("nan"),
            int(support),
        )
    return out


SMOKE = {"dies": 1, "arrays": 4}
"""What ``--smoke`` shrinks (every profile is still run)."""


def main(argv: list[str] | None = None) -> None:
    """Run every profile and print the confusion matrices and the summary table."""
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--dies", type=int, default=36, help="dies per profile (default 36)")
    ap.add_argument("--lot", type=int, default=9001, help="lot seed (default 9001)")
    ap.add_argument("--cycles", type=int, default=3, help="write-read cycles (default 3)")
    ap.add_argument(
        "--remeasure",
        type=int,
        default=3,
        help="extra verified cycles for uncertain devices, as `mtj-hil characterize` does "
        "(default 3; 0 = classify the first pass only)",
    )
    ap.add_argument(
        "--bias",
        choices=("auto", "off"),
        default="auto",
        help="second read voltage for the bias signature: auto (the die's largest read "
        "voltage, if at least twice the read voltage) or off (default auto)",
    )
    ap.add_argument(
        "--profiles",
        default=None,
        help="comma-separated names or TOML paths (default: every shipped 1T1R profile)",
    )
    ap.add_argument("--arrays", type=int, default=None, help="first N arrays per die (default all)")
    args = parse_args(ap, SMOKE, argv)
    names = (
        args.profiles.split(",")
        if args.profiles
        else [n for n in available_profiles() if load_profile(n).geometry.cell == "1T1R"]
    )
    console = Console(width=170)
    summary = Table(
        title=f"defect detection, {args.dies} dies per profile, lot {args.lot}, "
        f"{args.cycles} cycles, bias signature {args.bias}"
    )
    for col in ("profile", *(f"{n} P / R" for n in GOALS), "good->defect", "uncertain", "s/die"):
        summary.add_column(col, justify="right")
    with Progress(console=console, transient=True) as progress:
        for name in names:
            task = progress.add_task(name, total=args.dies)
            conf, oracle, t_cls, t_die, warns, extra = run_profile(
                name,
                args.dies,
                args.lot,
                args.cycles,
                args.remeasure,
                progress,
                task,
                args.arrays,
                bias=args.bias == "auto",
            )
            sc = scores(conf)
            good = conf[DefectCode.GOOD].sum()
            false_defect = conf[DefectCode.GOOD, 1:5].sum() / good
            uncertain = conf[:, DefectCode.UNCERTAIN].sum() / conf.sum()
            cells = []
            for n, goal in GOALS.items():
                p, r, _ = sc[n]
                ok = p >= goal and r >= goal
                colour = "green" if ok else "red"
                cells.append(f"[{colour}]{p:.4f} / {r:.4f}[/]")
            summary.add_row(
                name,
                *cells,
                f"{false_defect:.1e}",
                f"{100 * uncertain:.3f} %",
                f"{t_cls:.3f} / {t_die:.2f}",
            )
            matrix = Table(title=f"{name}: confusion (true class in rows)")
            matrix.add_column("truth")
            for c in CLASSES:
                matrix.add_column(c.name, justify="right")
            for c in CLASSES[:5]:
                matrix.add_row(c.name, *(str(v) for v in conf[c]))
            stuck = conf[3:5, 3:5].sum()
            stuck_called = conf[:, 3:5].sum()
            stuck_true = conf[3:5].sum()
            console.print(matrix)
            console.print(
                f"  stuck (either state): precision {stuck / max(stuck_called, 1):.4f}, "
                f"recall {stuck / max(stuck_true, 1):.4f}; classification {t_cls:.3f} s/die, "
                f"whole in-memory characterisation {t_die:.2f} s/die"
            )
            orc = scores(oracle)
            console.print(
                "  Bayes limit of the levels alone (true distributions known, no UNCERTAIN): "
                + ", ".join(f"{n} {p:.3f} / {r:.3f}" for n, (p, r, _) in orc.items())
            )
            if extra["bias_sep"]:
                console.print(
                    "  bias signature: stuck-P and stuck-AP "
                    f"{np.median(extra['bias_sep']):.1f} sigma apart on it (median over dies)"
                )
            kinds = {w[:40]: w for w in warns}
            for w in kinds.values():
                console.print(f"  warning (e.g. on one die): {w}", highlight=False)
    console.print(summary)
    console.print(
        "goals: >= 0.99 shorts and opens, >= 0.97 stuck, good->defect <= 1e-4, uncertain "
        "<= 0.1 %; s/die = classification / whole characterisation in memory"
    )


if __name__ == "__main__":
    main()
