"""Defect detection on dies outside the shipped profiles: a grid of stress cases.

Each case changes a few keys of a shipped profile (``DeviceProfile.replace``): other TMR,
spreads, short levels, defect rates (none at all, one class only, up to 90 %), read noise,
converter resolution, geometries, cycles, re-measurement. For each, ``--dies`` dies of lot
``--lot`` are characterised in memory and compared with the simulator's truth. Printed per
case: precision / recall per class (UNCERTAIN counts as a miss), good devices called
defective (rate), uncertain devices, the Bayes limit of the level-decided classes (true
distributions known, see ``bench_defects.py``), refusals, and the in-memory time per die.
The Bayes limit is taken for the cycles the run spent on each device (the re-measured
devices with their extra cycles); beside it, the bound if every device had been re-measured.

The flawed-die grid (issue 22) sweeps each flaw of :mod:`defect_cases` over a range:
resistive-open ranges, sense offsets from 0.3 to 3 uA, two sizes 1.3x to 2x apart (also
with one read voltage, where the levels alone cannot separate them: there the Bayes limit
is the figure to meet), skewed spreads, pinholes, half-way switching, telegraph noise,
drift, spatial structure. Each row also gives the share of defect calls made with
confidence >= 0.95 that were wrong (the stated confidence must hold).

Run: ``python scripts/stress_defects.py`` (about 10 minutes on one core) or e.g.
``--cases noise,adc --dies 4`` (cases whose name contains any of the words); ``--smoke``
runs five cases on one die of four arrays.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from _smoke import bench_description, parse_args
from bench_defects import GOALS, scores, verdict
from defect_cases import bayes_calls, confident_error, remeasured_cycles
from rich.console import Console
from rich.table import Table

from mtj_hil.protocols.characterize.procedure import (
    CharacterizationPlan,
    MemorySink,
    characterize_die,
)
from mtj_hil.protocols.errors import ProtocolError
from mtj_hil.sim.chip import SimulatedChip
from mtj_hil.sim.profile import load_profile

R_P = 4292.0
NONE = {"short_rate": 0.0, "open_rate": 0.0, "stuck_p_rate": 0.0, "stuck_ap_rate": 0.0}


def cases() -> list[tuple[str, str, dict, dict]]:
    """(name, base profile, profile changes, plan/run options) of every stress case."""
    out: list[tuple[str, str, dict, dict]] = []

    def add(name: str, base: str = "1t1r-20k", run: dict | None = None, **changes) -> None:
        out.append((name, base, changes, run or {}))

    for tmr in (0.1, 0.2, 0.5, 1.0, 1.5, 3.0):
        add(f"tmr {100 * tmr:g} %", resistance={"r_ap_median": R_P * (1 + tmr)})
    for sp in (0.02, 0.08, 0.15, 0.20):
        add(f"spread {100 * sp:g} %", resistance={"r_p_sigma": sp, "r_ap_sigma": sp})
    for g in (3e-4, 5e-4, 1e-3, 3e-3):
        for s in (0.05, 0.2, 0.5):
            add(
                f"shorts {1e3 * g:g} mS sigma {s}",
                defects={"short_g_median": g, "short_g_sigma": s},
            )
    add("no defects", defects=NONE)
    for r in (0.001, 0.03, 0.10):
        add(
            f"defect rate {100 * r:g} %",
            defects={"short_rate": r, "open_rate": r / 2, "stuck_p_rate": r, "stuck_ap_rate": r},
        )
    for k in NONE:
        add(f"only {k}", defects={**NONE, k: 0.004})
    add("stuck-P 20 % only", defects={**NONE, "stuck_p_rate": 0.2})
    add("stuck 45 + 45 %", defects={**NONE, "stuck_p_rate": 0.45, "stuck_ap_rate": 0.45})
    add("line defects heavy", defects={"line_open_rate": 2.0, "line_short_rate": 2.0})
    for n in (0.02, 0.05, 0.10):
        add(f"noise {100 * n:g} %", read={"noise_rel": n})
    add("noise 3 %, tmr 20 %", resistance={"r_ap_median": 1.2 * R_P}, read={"noise_rel": 0.03})
    add("noise 5 %, tmr 20 %", resistance={"r_ap_median": 1.2 * R_P}, read={"noise_rel": 0.05})
    add("noise 5 %, 1 cycle, 3 reads", read={"noise_rel": 0.05}, run={"cycles": 1, "reads": 3})
    for bits in (6, 7, 8, 9, 10, 12):
        add(f"adc {bits} bit", read={"adc_bits": bits})
    add("adc 8 bit, no defects", read={"adc_bits": 8}, defects=NONE)
    add("geometry 4 x 16 x 16", geometry={"n_arrays": 4, "rows": 16, "cols": 16})
    add("geometry 1 x 25 x 25", geometry={"n_arrays": 1})
    add("geometry 1 x 4 x 4", geometry={"n_arrays": 1, "rows": 4, "cols": 4})
    add("geometry 64 x 1 x 25", geometry={"n_arrays": 64, "rows": 1})
    add("passive 15 x 15", base="passive-15x15")
    for c in (1, 2, 8):
        add(f"{c} cycles", run={"cycles": c})
    add("1 cycle + re-measure 3", run={"cycles": 1, "remeasure_cycles": 3})
    add("2 arrays of 32", run={"arrays": 2})
    add("write error floor 0.2", switching={"write_error_floor": 0.2})
    add(
        "uncorrelated R_P, R_AP",
        resistance={"rp_rap_correlation": 0.0, "r_p_sigma": 0.1, "r_ap_sigma": 0.1},
    )
    add("early process", base="1t1r-early-process")
    # fluctuators far beyond the few % of the literature (the shipped lab wafer's 2 %)
    for frac, amp in ((0.2, 0.1), (0.2, 0.2), (0.5, 0.43)):
        add(f"telegraph {100 * frac:g} % x {amp:g}", telegraph={"fraction": frac, "amplitude": amp})
    # -- flawed dies (issue 22) -------------------------------------------------------------
    for hi in (3e-5, 1.5e-4, 3e-4):
        add(
            f"resistive opens to {1e6 * hi:g} uS",
            defects={"open_rate": 0.004},
            resistive_opens={"fraction": 1.0, "g_high": hi},
        )
    for o in (3e-7, 1e-6, 3e-6):
        add(f"sense offsets {1e6 * o:g} uA", read={"offset_sigma": o})
    for scale in (1.3, 1.6, 2.0):
        pops = {"fractions": [0.7, 0.3], "r_scale": [1.0, scale]}
        add(f"two sizes x{scale:g}", base="1t1r-weak-shorts", populations=pops)
        add(
            f"two sizes x{scale:g}, one read voltage",
            base="1t1r-weak-shorts",
            run={"bias_read_voltage": None},
            populations=pops,
        )
    for a in (2.0, 8.0):
        add(f"skew {a:g}", base="1t1r-wide-spread", populations={"skew": a})
    for f in (0.01, 0.05):
        add(f"pinholes {100 * f:g} %", pinholes={"fraction": f})
    add("partial switching 5 %", partial_switching={"fraction": 0.05, "probability": 0.5})
    add("telegraph 10 %, 5 %", telegraph={"fraction": 0.1, "amplitude": 0.05})
    add("drift 10 K swing", drift={"amplitude": 10.0, "period": 15.0, "tc_r_ap": -2e-3})
    add(
        "spatial heavy",
        spatial={"scratch_rate": 3.0, "cluster_rate": 10.0, "edge_width": 5.0, "edge_factor": 10.0},
    )
    add(
        "soft shorts, one read voltage",
        run={"bias_read_voltage": None},
        defects={"short_g_median": 3.2e-4, "short_g_sigma": 0.25},
    )
    return out


def run_case(
    base: str, changes: dict, run: dict, dies: int, lot: int, max_arrays: int | None = None
) -> dict:
    """Confusion (5 x 6), Bayes-limit calls, confident errors, refusals and mean time per
    die of one case."""
    prof = load_profile(base)
    prof = prof.replace(**changes) if changes else prof
    conf, oracle = np.zeros((5, 6), np.int64), np.zeros((5, 6), np.int64)
    bound = np.zeros((5, 6), np.int64)
    guessed = np.zeros((5, 6), np.int64)
    refused, times, sure, right = 0, [], [], []
    opts = dict(run)
    n_arr = opts.pop("arrays", None) or max_arrays
    for k in range(dies):
        chip = SimulatedChip.from_lot(prof, lot, k)
        arrays = tuple(range(min(n_arr or chip.layout.n_arrays, chip.layout.n_arrays)))
        plan = CharacterizationPlan(arrays=arrays, **opts).resolved(chip.layout)
        t0 = time.perf_counter()
        sink = MemorySink()
        try:
            result = characterize_die(chip, sink, plan)
        except ProtocolError:
            refused += 1
            continue
        times.append(time.perf_counter() - t0)
        truth = chip.die.defect[list(arrays)]
        np.add.at(conf, (truth.ravel(), result.codes.ravel()), 1)
        best = np.where(result.codes == 5, result.best_guess, result.codes)
        np.add.at(guessed, (truth.ravel(), best.ravel()), 1)
        limit = (chip.die, arrays, result, plan.read_voltage, plan.bias_read_voltage, plan.cycles)
        calls = bayes_calls(*limit, plan.remeasure_cycles * plan.remeasure_rounds)
        np.add.at(bound, (truth.ravel(), calls.ravel()), 1)
        calls = bayes_calls(
            *limit, plan.remeasure_cycles, remeasured_cycles(sink, arrays, truth.shape)
        )
        np.add.at(oracle, (truth.ravel(), calls.ravel()), 1)
        called = np.isin(result.codes, (1, 2, 3, 4))
        sure.append(result.confidence[called])
        right.append(result.codes[called] == truth[called])
    n95, err95 = confident_error(np.concatenate(sure or [[]]), np.concatenate(right or [[]]))
    return {
        "conf": conf,
        "guessed": guessed,
        "oracle": oracle,
        "bound": bound,
        "refused": refused,
        "t": float(np.mean(times or [0])),
        "n95": n95,
        "err95": err95,
    }


SMOKE = {"dies": 1, "arrays": 4, "smoke_cases": True}
"""What ``--smoke`` shrinks: one die of four arrays, the cases of :data:`SMOKE_CASES`."""

SMOKE_CASES = (
    "no defects",
    "sense offsets 1 uA",
    "two sizes x1.6, one read voltage",
    "geometry 1 x 4 x 4",
    "passive 15 x 15",
)
"""The cases a smoke run keeps (unless ``--cases`` names others): the flaws that differ
most and the shapes that take other code paths."""


def main(argv: list[str] | None = None) -> None:
    """Run every (selected) stress case and print the table."""
    ap = argparse.ArgumentParser(description=bench_description(__doc__))
    ap.add_argument("--dies", type=int, default=12, help="dies per case (default 12)")
    ap.add_argument("--lot", type=int, default=9001, help="lot seed (default 9001)")
    ap.add_argument("--cases", default=None, help="comma-separated words; cases naming any")
    ap.add_argument("--arrays", type=int, default=None, help="first N arrays per die")
    ap.add_argument("--smoke-cases", action="store_true", help=argparse.SUPPRESS)
    args = parse_args(ap, SMOKE, argv)
    words = args.cases.split(",") if args.cases else None
    table = Table(title=f"defect detection stress cases, {args.dies} dies each, lot {args.lot}")
    for col in (
        "case",
        "SHORT P/R",
        "OPEN P/R",
        "STUCK_P P/R",
        "STUCK_AP P/R",
        "good->defect",
        "uncertain",
        "refused",
        "s/die",
        "wrong at conf>=0.95",
        "Bayes limit S O SP SAP",
        "bound if all re-measured",
    ):
        table.add_column(col, justify="right")
    fmt = lambda p, r: "-" if np.isnan(r) else f"{p:.3f}/{r:.3f}"  # noqa: E731
    # a class is green at its goal, or (where the Bayes limit is below the goal) when its
    # best guesses come within 0.02 of the limit (bench_defects.verdict)
    for name, base, changes, run in cases():
        if args.smoke_cases and not words and name not in SMOKE_CASES:
            continue
        if words and not any(w in name for w in words):
            continue
        res = run_case(base, changes, run, args.dies, args.lot, args.arrays)
        conf, sc, orc = res["conf"], scores(res["conf"]), scores(res["oracle"])
        bnd = scores(res["bound"])
        gs = scores(res["guessed"])
        good = max(int(conf[0].sum()), 1)
        cells = []
        for c in ("SHORT", "OPEN", "STUCK_P", "STUCK_AP"):
            ok = verdict(sc[c], orc[c], GOALS[c], gs[c])
            text = fmt(*sc[c][:2])
            if not (sc[c][0] >= GOALS[c] and sc[c][1] >= GOALS[c]) and not np.isnan(sc[c][1]):
                text += f" (guess {fmt(*gs[c][:2])})"
            cells.append(f"[{'green' if ok else 'red'}]{text}[/]")
        table.add_row(
            name,
            *cells,
            f"{conf[0, 1:5].sum() / good:.1e}",
            f"{100 * conf[:, 5].sum() / max(conf.sum(), 1):.3f} %",
            str(res["refused"]),
            f"{res['t']:.2f}",
            f"{100 * res['err95']:.2f} % of {res['n95']}",
            " ".join(fmt(*orc[c][:2]) for c in ("SHORT", "OPEN", "STUCK_P", "STUCK_AP")),
            " ".join(fmt(*bnd[c][:2]) for c in ("SHORT", "OPEN", "STUCK_P", "STUCK_AP")),
        )
    Console(width=240).print(table)


if __name__ == "__main__":
    main()
