"""Switching characterisation and fitted die profiles: recovery, round trip, cost.

Prints:

1. Recovery: on every die of a simulated lot, ``--switching-arrays`` arrays get the default
   switching characterisation (adaptive grid, 3 widths, both directions); fitted Vc0 and
   Delta per device against the die's truth: median relative error and the share of the
   stated 90 % intervals that contain the truth.
2. Fitted profile against the generating one: the lot's dies are characterised into run
   files, ``fit_profile`` fits every parameter (with the switching runs), and each fitted
   value is printed beside the truth with its uncertainty and z = (fit - truth) / sd.
3. Round trip: the borders experiment (yield and statistics-aware accuracy) on the
   generating lot (lot seed 0), on a lot drawn from the fitted profile (lot seed 1), and on
   a second lot of the generating profile (lot seed 1) to show lot-to-lot variation.
4. Cost: switching of one array and of one whole die on the simulator (wall time, device
   trials), and the modelled lab time of one array over the virtual lab (real drivers and
   wire protocols), scaled to the die.

The lot is drawn from a bench-local copy of ``--profile`` with a per-device Delta spread
(``--delta-sigma``, default 10 %; 0 for the profile as shipped), so per-device Delta fits are
compared with each device's own true Delta and the fitted Delta spread with the truth's.

The switching plan is the default one (``SwitchingPlan`` with ``default_amplitudes`` and
``default_widths``) unless ``--widths``, ``--amplitude-step``, ``--trials``, ``--floor-trials``
or ``--disturb-reads`` shrink it.

Usage: python scripts/bench_switching.py [--dies 36] [--switching-arrays 2] [--delta-sigma 0.1]
       [--dataset digits] [--epochs 20] [--seeds 3] [--pool 64] [--skip-lab] [--skip-round-trip]
       [--skip-die] [--profile 1t1r-20k] [--smoke]
Smaller: --dies 6 --switching-arrays 1 --skip-lab
"""

from __future__ import annotations

import argparse
import re
import tempfile
import time
from pathlib import Path

import numpy as np
from _smoke import parse_args

from mtj_hil.experiments.borders import BordersConfig, run_borders
from mtj_hil.profile_fit.fit import FittedProfile, fit_profile
from mtj_hil.profile_fit.writer import write_profile_toml
from mtj_hil.protocols.characterize.plan import CharacterizationPlan
from mtj_hil.protocols.chip import Layout
from mtj_hil.protocols.switching.fit import interval_coverage
from mtj_hil.protocols.switching.procedure import (
    DEFAULT_AMPLITUDE_STEP,
    SwitchingPlan,
    default_amplitudes,
    default_widths,
)
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.jobs.switching import run_switching
from mtj_hil.sim import SimulatedChip, load_profile
from mtj_hil.sim.profile import DeviceProfile, as_dict

STATION = Path(__file__).resolve().parents[1] / "stations" / "virtual-lab.toml"


def say(text: str) -> None:
    """Print at once (the bench runs for minutes)."""
    print(text, flush=True)


def switching_plan(layout: Layout, arrays: list[int], args: argparse.Namespace) -> SwitchingPlan:
    """The switching plan of the bench: the default plan, unless the options shrink it."""
    return SwitchingPlan(
        arrays=tuple(arrays),
        amplitudes=default_amplitudes(layout, args.amplitude_step),
        widths=default_widths(layout)[-args.widths :],
        trials=args.trials,
        probe_trials=min(SwitchingPlan.probe_trials, args.trials),
        floor_trials=args.floor_trials,
        disturb_reads=args.disturb_reads,
    )


PLAN_DEFAULTS = {
    "widths": 3,
    "amplitude_step": DEFAULT_AMPLITUDE_STEP,
    "trials": SwitchingPlan.trials,
    "floor_trials": SwitchingPlan.floor_trials,
    "disturb_reads": SwitchingPlan.disturb_reads,
}
"""The options of the default switching plan (3 widths: all of ``default_widths``)."""


def is_default_plan(args: argparse.Namespace) -> bool:
    """Whether the options leave the switching plan at its defaults."""
    return all(getattr(args, k) == v for k, v in PLAN_DEFAULTS.items())


def measure_lot(
    profile: DeviceProfile, dies: int, sw_arrays: int, folder: Path, args: argparse.Namespace
) -> tuple[list[Path], list[Path], dict[str, np.ndarray], float]:
    """Characterise every die and run switching on some arrays; return paths and recovery."""
    chars, sws = [], []
    rec = {"vc": [], "vc_sd": [], "vc_true": [], "delta": [], "delta_sd": [], "delta_true": []}
    rec["spread"] = []
    rec["medians"] = []
    t_sw = 0.0
    for k in range(dies):
        chip = SimulatedChip.from_lot(profile, 0, k)
        layout = chip.layout
        out = folder / f"char{k}.h5"
        run_characterization(
            chip,
            out,
            die_id=f"sim:{profile.name}:lot0:die{k}",
            plan=CharacterizationPlan(arrays=tuple(range(layout.n_arrays))),
            seed=0,
        )
        chars.append(out)
        chip = SimulatedChip.from_lot(profile, 0, k)
        arrays = list(range(sw_arrays))
        t0 = time.perf_counter()
        an = run_switching(
            chip,
            folder / f"sw{k}.h5",
            die_id=f"sim:{profile.name}:lot0:die{k}",
            plan=switching_plan(layout, arrays, args),
            seed=0,
        )
        t_sw += time.perf_counter() - t0
        sws.append(folder / f"sw{k}.h5")
        die = chip.die
        for name, truth in (("AP", die.vc_to_ap[arrays]), ("P", die.vc_to_p[arrays])):
            f = an.directions[name]
            rec["vc"].append(f.vc.ravel())
            rec["vc_sd"].append(f.vc_sd.ravel())
            rec["vc_true"].append(truth.ravel())
            rec["delta"].append(f.delta.ravel())
            rec["delta_sd"].append(f.delta_sd.ravel())
            rec["delta_true"].append(die.delta[arrays].ravel())  # per-device truth
            pop = f.population
            good = f.status == 0
            rec["medians"].append(
                (
                    np.median(f.vc[good]) / np.median(truth[good]) - 1,
                    np.median(f.delta[good]) / np.median(die.delta[arrays][good]) - 1,
                )
            )
            rec["spread"].append(
                (
                    float(np.std(die.delta[arrays][f.status == 0]) / np.mean(die.delta[arrays])),
                    pop.get("delta_sigma_rel", np.nan),
                    pop.get("delta_sigma_rel_sd", np.nan),
                )
            )
        say(f"  die {k + 1}/{dies}: characterised, switching on {sw_arrays} arrays")
    spread, medians = np.array(rec.pop("spread")), np.array(rec.pop("medians"))
    out = {k: np.concatenate(v) for k, v in rec.items()}
    out["spread"], out["medians"] = spread, medians
    return chars, sws, out, t_sw


def spread_profile(name: str, delta_sigma: float, folder: Path) -> Path:
    """A bench-local copy of profile ``name`` with ``switching.delta_sigma`` set."""
    from mtj_hil.sim.profile import PROFILE_DIR

    src = Path(name) if Path(name).suffix == ".toml" else PROFILE_DIR / f"{name}.toml"
    text = src.read_text(encoding="utf-8")
    base = load_profile(src).name
    new_name = f"{base}-dspread{round(100 * delta_sigma)}"
    text = text.replace(f'name = "{base}"', f'name = "{new_name}"', 1)
    if re.search(r"^delta_sigma\s*=", text, flags=re.M):
        text = re.sub(r"^delta_sigma\s*=.*$", f"delta_sigma = {delta_sigma}", text, flags=re.M)
    else:
        text = text.replace("[switching]\n", f"[switching]\ndelta_sigma = {delta_sigma}\n", 1)
    path = folder / f"{new_name}.toml"
    path.write_text(text, encoding="utf-8")
    if load_profile(path).switching.delta_sigma != delta_sigma:
        raise SystemExit(f"could not set delta_sigma in a copy of {src}")
    return path


def print_recovery(rec: dict[str, np.ndarray], n_dies: int, n_arrays: int) -> None:
    """Section 1: recovery of per-device Vc0 and Delta."""
    say(f"\n1. Recovery ({n_dies} dies x {n_arrays} arrays x 2 directions, tau0 assumed = truth)")
    say(f"   {'param':6} {'devices':>8} {'median |rel err|':>17} {'90 % coverage':>14}")
    for key in ("vc", "delta"):
        est, sd, truth = rec[key], rec[f"{key}_sd"], rec[f"{key}_true"]
        ok = np.isfinite(est)
        err = np.median(np.abs(est[ok] / truth[ok] - 1))
        cov = interval_coverage(est, sd, truth)
        name = "Vc0" if key == "vc" else "Delta"
        say(f"   {name:6} {ok.sum():>8} {100 * err:>16.2f}% {100 * cov:>13.1f}%")
    say("   (Delta against each device's own true Delta)")
    m = rec["medians"]
    sem = m.std(axis=0, ddof=1) / np.sqrt(len(m)) if len(m) > 1 else np.full(2, np.nan)
    say(
        f"   median of fitted devices / median of their truth - 1, over {len(m)} die-directions: "
        f"Vc0 {100 * m[:, 0].mean():+.3f} +- {100 * sem[0]:.3f} %, "
        f"Delta {100 * m[:, 1].mean():+.3f} +- {100 * sem[1]:.3f} %"
    )
    sp = rec["spread"]
    z = (sp[:, 1] - sp[:, 0]) / sp[:, 2]
    err = (
        f"mean relative error {100 * np.mean(sp[:, 1] / sp[:, 0] - 1):+.1f} %"
        if sp[:, 0].all()
        else f"mean error {100 * np.mean(sp[:, 1] - sp[:, 0]):+.2f} points"
    )
    say(
        f"   Delta spread per die-direction ({len(sp)}): true sample spread "
        f"{100 * sp[:, 0].mean():.2f} %, fitted {100 * sp[:, 1].mean():.2f} % "
        f"(mean stated sd {100 * sp[:, 2].mean():.2f} %), {err}, "
        f"z mean {np.mean(z):+.2f}, |z| < 1.645 in {100 * np.mean(np.abs(z) < 1.645):.0f} %"
    )


def print_profile_fit(fp: FittedProfile, truth: DeviceProfile) -> None:
    """Section 2: every fitted profile value beside the truth."""
    say("\n2. Fitted profile against the generating profile")
    t = as_dict(truth)
    say(f"   {'parameter':32} {'truth':>11} {'fitted':>11} {'sd':>9} {'z':>6}")
    for key, fv in fp.values.items():
        section, name = key.split(".")
        true = t[section][name]
        z = (fv.value - true) / fv.sd if fv.sd else float("nan")
        sd = f"{fv.sd:.3g}" if fv.sd is not None else "assumed"
        say(f"   {key:32} {true:>11.5g} {fv.value:>11.5g} {sd:>9} {z:>6.2f}")
    tmr_true = truth.resistance.r_ap_median / truth.resistance.r_p_median - 1
    d = fp.derived["tmr"]
    say(
        f"   {'TMR (derived)':32} {tmr_true:>11.5g} {d.value:>11.5g} {d.sd:>9.3g} "
        f"{(d.value - tmr_true) / d.sd:>6.2f}"
    )
    say("   kept at defaults (runs cannot tell): " + ", ".join(fp.defaults))


def borders(
    profile: str, lot_seed: int, dies: int, args: argparse.Namespace, seed: int
) -> tuple[float, np.ndarray]:
    """Mean measured yield and per-die statistics-aware accuracy of one lot, one seed."""
    cfg = BordersConfig(
        dataset=args.dataset,
        profile=profile,
        dies=dies,
        lot_seed=lot_seed,
        epochs=args.epochs,
        finetune_epochs=max(1, args.epochs // 4),
        stats_epochs=max(1, args.epochs // 4),
        pool_size=args.pool,
        hidden=(32,),
        seed=seed,
    )
    res = run_borders(cfg)
    good = np.array([d.defects["GOOD"] / sum(d.defects.values()) for d in res.dies])
    return float(good.mean()), 1 - res.errors("statistics_aware")


def print_round_trip(
    fit_path: Path, truth_ref: str, truth_name: str, dies: int, args: argparse.Namespace
) -> None:
    """Section 3: the borders experiment on the generating, the fitted and a second lot."""
    say(
        f"\n3. Round trip ({dies} dies per lot, {args.dataset}; the statistics-aware network is "
        f"trained on each lot's measured population, {args.seeds} training seeds)"
    )
    say(
        f"   {'lot':36} {'yield (measured)':>18} {'stat-aware accuracy':>20} "
        f"{'seed-to-seed sd':>16}"
    )
    for label, prof, lot_seed in (
        (f"{truth_name} lot 0 (characterised)", truth_ref, 0),
        ("fitted profile, lot 1", str(fit_path), 1),
        (f"{truth_name} lot 1 (lot-to-lot ref.)", truth_ref, 1),
    ):
        t0 = time.perf_counter()
        runs = [borders(prof, lot_seed, dies, args, seed) for seed in range(args.seeds)]
        y = float(np.mean([r[0] for r in runs]))
        per_seed = np.array([r[1].mean() for r in runs])
        sd = float(per_seed.std(ddof=1)) if len(per_seed) > 1 else float("nan")
        say(
            f"   {label:36} {100 * y:>16.3f} % {100 * per_seed.mean():>18.2f} % "
            f"{100 * sd:>14.2f} %   ({time.perf_counter() - t0:.0f} s)"
        )
    say("   (accuracy: mean over dies and seeds; yield: GOOD share of the measured devices)")


def print_cost(profile: DeviceProfile, args: argparse.Namespace) -> None:
    """Section 4: switching cost on the simulator and over the virtual lab."""
    say(
        f"\n4. Cost ({'default ' if is_default_plan(args) else ''}plan: {args.widths} widths, "
        f"adaptive amplitudes, {args.trials} trials, {args.floor_trials} floor trials, "
        f"{args.disturb_reads} disturb reads)"
    )
    for label, arrays in (("one array", [0]), ("whole die", None)):
        if arrays is None and args.skip_die:
            continue
        chip = SimulatedChip.from_lot(profile, 0, 30)
        arrays = arrays or list(range(chip.layout.n_arrays))
        with tempfile.TemporaryDirectory() as tmp:
            t0 = time.perf_counter()
            run_switching(
                chip,
                Path(tmp) / "c.h5",
                die_id="cost",
                plan=switching_plan(chip.layout, arrays, args),
            )
            wall = time.perf_counter() - t0
            from mtj_hil.runs.store.switching import load_switching

            n = sum(int(d.trials.sum()) for d in load_switching(Path(tmp) / "c.h5").data.values())
        say(
            f"   simulator, {label:10}: {wall:7.1f} s wall, {n:,} device trials, "
            f"{chip.program_calls:,} pulses, {chip.read_calls:,} reads"
        )
    if args.skip_lab:
        say("   virtual lab: skipped (--skip-lab)")
        return
    from mtj_hil.station.connect import open_station
    from mtj_hil.station.files import load_station

    st = load_station(STATION)
    with open_station(st) as chip, tempfile.TemporaryDirectory() as tmp:
        t0 = time.perf_counter()
        plan = switching_plan(chip.layout, [0], args)
        run_switching(chip, Path(tmp) / "lab.h5", die_id="lab", plan=plan)
        wall = time.perf_counter() - t0
        clock = chip.lab.clock
        say(
            f"   virtual lab, one array: modelled lab time {clock.now:,.0f} s "
            f"({clock.now / 3600:.2f} h) over {clock.transactions:,} bus transactions "
            f"({wall:.0f} s wall)"
        )
        say(
            f"   virtual lab, whole die ({chip.layout.n_arrays} arrays, scaled from one): "
            f"{chip.layout.n_arrays * clock.now / 3600:.1f} h modelled"
        )


SMOKE = {
    "dies": 1,
    "switching_arrays": 1,
    "seeds": 1,
    "epochs": 1,
    "pool": 4,
    "widths": 1,
    "amplitude_step": 0.1,
    "trials": 4,
    "floor_trials": 4,
    "disturb_reads": 10,
    "skip_die": True,
}
"""What ``--smoke`` shrinks: every section, the virtual lab included, still runs (the
whole-die simulator cost is the one-array code on 32 arrays; skipped). 4 trials and a 0.1 V
grid are about the least the switching fits take."""


def main(argv: list[str] | None = None) -> None:
    """Run the four sections."""
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--profile", default="1t1r-20k", help="die profile (name or TOML path)")
    ap.add_argument("--dies", type=int, default=36, help="dies of the simulated lot")
    ap.add_argument(
        "--switching-arrays", type=int, default=2, help="arrays per die switching-characterised"
    )
    ap.add_argument("--dataset", default="digits", help="data set of the round trip")
    ap.add_argument(
        "--epochs", type=int, default=20, help="round trip: base epochs (fine-tunings: 1/4)"
    )
    ap.add_argument("--seeds", type=int, default=3, help="training seeds per lot (round trip)")
    ap.add_argument(
        "--delta-sigma",
        type=float,
        default=0.1,
        help="per-device Delta spread of the bench-local profile (0: the profile as shipped)",
    )
    ap.add_argument(
        "--skip-round-trip", action="store_true", help="skip section 3 (the borders round trip)"
    )
    ap.add_argument(
        "--skip-lab", action="store_true", help="skip the virtual-lab array of section 4"
    )
    ap.add_argument("--skip-die", action="store_true", help="skip the whole-die simulator cost")
    ap.add_argument("--pool", type=int, default=64, help="borders pool_size (round trip)")
    ap.add_argument(
        "--widths",
        type=int,
        default=PLAN_DEFAULTS["widths"],
        help="switching plan: the last N default widths",
    )
    ap.add_argument(
        "--amplitude-step",
        type=float,
        default=PLAN_DEFAULTS["amplitude_step"],
        help="switching plan: amplitude grid step (V)",
    )
    ap.add_argument(
        "--trials", type=int, default=PLAN_DEFAULTS["trials"], help="switching plan: trials"
    )
    ap.add_argument(
        "--floor-trials",
        type=int,
        default=PLAN_DEFAULTS["floor_trials"],
        help="switching plan: write-error-floor trials",
    )
    ap.add_argument(
        "--disturb-reads",
        type=int,
        default=PLAN_DEFAULTS["disturb_reads"],
        help="switching plan: read-disturb reads per state",
    )
    args = parse_args(ap, SMOKE, argv)
    if args.widths < 1:
        ap.error("--widths must be at least 1")
    t_start = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        truth_ref = args.profile
        if args.delta_sigma > 0:
            truth_ref = str(spread_profile(args.profile, args.delta_sigma, folder))
        profile = load_profile(truth_ref)
        say(f"measuring a lot of {args.dies} dies of {profile.name} ...")
        chars, sws, rec, t_sw = measure_lot(profile, args.dies, args.switching_arrays, folder, args)
        print_recovery(rec, args.dies, args.switching_arrays)
        t0 = time.perf_counter()
        fp = fit_profile([*chars, *sws], profile, name="fitted-lot")
        fit_path = write_profile_toml(fp, folder / "fitted-lot.toml")
        say(
            f"\n   (fit-profile over {len(chars) + len(sws)} run files: "
            f"{time.perf_counter() - t0:.1f} s)"
        )
        print_profile_fit(fp, profile)
        if not args.skip_round_trip:
            print_round_trip(fit_path, truth_ref, profile.name, args.dies, args)
    print_cost(profile, args)
    say(f"\ntotal wall time {time.perf_counter() - t_start:.0f} s")


if __name__ == "__main__":
    main()
