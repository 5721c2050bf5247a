"""Defect detection on the shipped 1T1R profiles and on flawed dies: precision, recall, false
defects, uncertainty, the Bayes limit and the reliability of the stated confidence.

For each profile or case (:mod:`defect_cases`: resistive opens, two device sizes, soft
shorts, skewed spread, sense offsets, a marginal write window, spatial structure, drift,
telegraph noise, pinholes, partial switching, everything at once), ``--dies`` dies of lot
``--lot`` (9001 by default: no test uses it) are characterised in memory through the
``Chip`` interface exactly as ``mtj-hil characterize`` does (3 cycles, re-measurement,
second read voltage where the die allows it), and compared with the simulator's truth.
Printed: precision and recall per class (an UNCERTAIN device counts as a miss), good devices
called defective (rate), uncertain devices (fraction), the confusion matrix (true class in
rows), the Bayes limit (:func:`defect_cases.bayes_calls`: the true distributions of level
and bias signature known), a reliability table of the stated confidence, the share of calls
with confidence >= 0.95 that were wrong, the warnings, and the time per die.

A class passes when precision and recall reach the goal (0.99 shorts and opens, 0.97 stuck)
or, where the Bayes limit itself falls short of it, come within 0.02 of that limit.

Run: ``python scripts/bench_defects.py`` (every case, 12 dies each), ``--profiles`` for the
shipped profiles, e.g. ``--cases offsets,opens --dies 6``; ``--smoke`` runs two cases on
two dies of four arrays (seconds; for the test suite).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _smoke import bench_description, parse_args
from defect_cases import CASES, bayes_calls, case_profile, confident_error, reliability
from rich.console import Console
from rich.table import Table

from mtj_hil.protocols.characterize.procedure import (
    CharacterizationPlan,
    MemorySink,
    characterize_die,
)
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.sim.chip import SimulatedChip
from mtj_hil.sim.profile import available_profiles, load_profile

CLASSES = list(DefectCode)
DEFECTS = (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP)
GOALS = {"SHORT": 0.99, "OPEN": 0.99, "STUCK_P": 0.97, "STUCK_AP": 0.97}
BAYES_SLACK = 0.02


def run_case(prof, dies: int, lot: int, cycles: int, remeasure: int, n_arrays: int | None):
    """Everything the tables need over ``dies`` dies of profile ``prof``."""
    confusion = np.zeros((5, 6), dtype=np.int64)
    guessed = np.zeros((5, 6), dtype=np.int64)
    oracle = np.zeros((5, 6), dtype=np.int64)
    conf_all, right_all, called_defect = [], [], []
    t_die, warnings = [], []
    for k in range(dies):
        chip = SimulatedChip.from_lot(prof, lot, k)
        planned = tuple(range(min(n_arrays or chip.layout.n_arrays, chip.layout.n_arrays)))
        plan = CharacterizationPlan(arrays=planned, cycles=cycles, remeasure_cycles=remeasure)
        plan = plan.resolved(chip.layout)
        t0 = time.perf_counter()
        result = characterize_die(chip, MemorySink(), plan)
        t_die.append(time.perf_counter() - t0)
        truth = chip.die.defect[list(planned)]
        codes = result.codes
        np.add.at(confusion, (truth.ravel(), codes.ravel()), 1)
        best = np.where(codes == DefectCode.UNCERTAIN, result.best_guess, codes)
        np.add.at(guessed, (truth.ravel(), best.ravel()), 1)
        calls = bayes_calls(
            chip.die,
            planned,
            result,
            plan.read_voltage,
            plan.bias_read_voltage,
            cycles,
            plan.remeasure_cycles * plan.remeasure_rounds,  # as if every device got them all
        )
        np.add.at(oracle, (truth.ravel(), calls.ravel()), 1)
        settled = codes != DefectCode.UNCERTAIN
        conf_all.append(result.confidence[settled])
        right_all.append(codes[settled] == truth[settled])
        called_defect.append(codes[settled] != DefectCode.GOOD)
        warnings.extend(result.warnings)
    return {
        "conf": confusion,
        "guessed": guessed,
        "oracle": oracle,
        "confidence": np.concatenate(conf_all),
        "right": np.concatenate(right_all),
        "defect_call": np.concatenate(called_defect),
        "t": float(np.mean(t_die)),
        "warnings": warnings,
    }


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


def verdict(measured: tuple, limit: tuple, goal: float, guessed: tuple | None = None) -> bool:
    """A class passes at the goal; or, where the Bayes limit itself is below the goal (the
    levels and signature cannot separate the classes), when the best guesses (UNCERTAIN
    devices counted by their best guess, as the limit counts every device) come within
    BAYES_SLACK of the limit."""
    p, r, n = measured
    if n == 0:
        return np.isnan(p) or p >= goal
    if p >= goal and r >= goal:
        return True
    if not (limit[0] < goal or limit[1] < goal):
        return False
    gp, gr, _ = guessed if guessed is not None else measured
    return not (gp < limit[0] - BAYES_SLACK) and not (gr < limit[1] - BAYES_SLACK)


def report(console: Console, name: str, res: dict, summary: Table) -> None:
    conf, sc, orc = res["conf"], scores(res["conf"]), scores(res["oracle"])
    gs = scores(res["guessed"])
    good = max(int(conf[DefectCode.GOOD].sum()), 1)
    false_defect = conf[DefectCode.GOOD, 1:5].sum() / good
    uncertain = conf[:, DefectCode.UNCERTAIN].sum() / max(conf.sum(), 1)
    cells, all_ok = [], True
    for n, goal in GOALS.items():
        ok = verdict(sc[n], orc[n], goal, gs[n])
        all_ok &= ok
        p, r, _ = sc[n]
        text = "-" if np.isnan(r) else f"{p:.3f}/{r:.3f}"
        cells.append(f"[{'green' if ok else 'red'}]{text}[/]")
    d = res["defect_call"]
    n95, err95 = confident_error(res["confidence"][d], res["right"][d])
    limits = " ".join(
        "-" if np.isnan(orc[c][1]) else f"{orc[c][0]:.3f}/{orc[c][1]:.3f}"
        for c in ("SHORT", "OPEN", "STUCK_P", "STUCK_AP")
    )
    fd_ok, unc_ok, cal_ok = false_defect <= 1e-4, uncertain <= 1e-3, err95 <= 0.01
    summary.add_row(
        name,
        *cells,
        f"[{'green' if fd_ok else 'red'}]{false_defect:.1e}[/]",
        f"[{'green' if unc_ok else 'red'}]{100 * uncertain:.3f} %[/]",
        f"[{'green' if cal_ok else 'red'}]{100 * err95:.2f} % of {n95}[/]",
        limits,
        f"{res['t']:.2f}",
    )
    matrix = Table(title=f"{name}: confusion (true class in rows)")
    matrix.add_column("truth")
    for c in CLASSES:
        matrix.add_column(c.name, justify="right")
    for c in CLASSES[:5]:
        matrix.add_row(c.name, *(str(v) for v in conf[c]))
    console.print(matrix)
    console.print(
        "  Bayes limit (true distributions of level and bias signature known, no UNCERTAIN): "
        + ", ".join(f"{n} {p:.3f} / {r:.3f}" for n, (p, r, _) in orc.items() if not np.isnan(r))
    )
    console.print(
        "  best guesses (UNCERTAIN counted by their best guess, as the limit counts): "
        + ", ".join(f"{n} {p:.3f} / {r:.3f}" for n, (p, r, _) in gs.items() if not np.isnan(r))
    )
    rel = reliability(res["confidence"][d], res["right"][d])
    console.print(
        "  reliability of defect calls (stated confidence: calls, share right): "
        + "; ".join(f"{b}: {n}, {s:.3f}" for b, n, s in rel if n)
    )
    for w in {w[:40]: w for w in res["warnings"]}.values():
        console.print(f"  warning (e.g. on one die): {w}", highlight=False)


SMOKE = {"dies": 2, "arrays": 4, "cases": "resistive opens,sense offsets"}
"""What ``--smoke`` shrinks: two cases, two dies of four arrays."""


def main(argv: list[str] | None = None) -> None:
    """Run every (selected) case or profile and print the confusion matrices and summary."""
    ap = argparse.ArgumentParser(description=bench_description(__doc__))
    ap.add_argument("--dies", type=int, default=12, help="dies per case (default 12)")
    ap.add_argument("--lot", type=int, default=9001, help="lot seed (default 9001)")
    plan = CharacterizationPlan()  # the library's defaults, the very ones of the CLI
    ap.add_argument(
        "--cycles",
        type=int,
        default=plan.cycles,
        help=f"write-read cycles (default {plan.cycles})",
    )
    ap.add_argument(
        "--remeasure",
        type=int,
        default=plan.remeasure_cycles,
        help=f"extra cycles per round for uncertain devices (default {plan.remeasure_cycles}, "
        f"in up to {plan.remeasure_rounds} rounds)",
    )
    ap.add_argument("--cases", default=None, help="comma-separated words; cases naming any")
    ap.add_argument(
        "--profiles",
        nargs="?",
        const="all",
        default=None,
        help="shipped 1T1R profiles (or TOML paths, comma-separated) instead of the cases",
    )
    ap.add_argument("--arrays", type=int, default=None, help="first N arrays per die (default all)")
    args = parse_args(ap, SMOKE, argv)
    if args.profiles:
        names = (
            [n for n in available_profiles() if load_profile(n).geometry.cell == "1T1R"]
            if args.profiles == "all"
            else args.profiles.split(",")
        )
        todo = [(n, load_profile(n)) for n in names]
    else:
        words = args.cases.split(",") if args.cases else None
        todo = [(n, case_profile(n)) for n in CASES if not words or any(w in n for w in words)]
    console = Console(width=200)
    summary = Table(
        title=f"defect detection, {args.dies} dies each, lot {args.lot}, {args.cycles} cycles"
    )
    for col in (
        "case",
        *(f"{n} P/R" for n in GOALS),
        "good->defect",
        "uncertain",
        "wrong at conf>=0.95",
        "Bayes limit S O SP SAP",
        "s/die",
    ):
        summary.add_column(col, justify="right")
    for name, prof in todo:
        res = run_case(prof, args.dies, args.lot, args.cycles, args.remeasure, args.arrays)
        report(console, name, res, summary)
    console.print(summary)
    console.print(
        "goals: >= 0.99 shorts and opens, >= 0.97 stuck (or within 0.02 of the Bayes limit "
        "where that is lower), good->defect <= 1e-4, uncertain <= 0.1 %, defect calls at "
        "confidence >= 0.95 wrong <= 1 %"
    )


if __name__ == "__main__":
    main()
