"""A device profile fitted from measured runs: characterisation runs of one or many dies and,
where present, switching runs.

What is fitted and how (ln R is Gaussian under a lognormal; noise is removed from spreads):

- ``resistance``: medians of ln R_P and ln R_AP of GOOD devices over all dies; spreads are
  robust (1.4826 x MAD) with the read noise of the averaged reads subtracted in quadrature;
  the correlation of ln R_P and ln R_AP with the same correction. Uncertainties from the
  die-to-die scatter of per-die values (or the sampling error for one die).
- ``defects``: rate per class = devices of the class / devices measured (whole-open output
  lines are counted separately as ``line_open_rate``); the die-to-die spread (the gamma
  factor's coefficient of variation) by moments of the per-die defect counts,
  ``cv^2 = (var N - mean N) / mean N^2``, with a bootstrap over dies (3 dies at least);
  short conductances as a lognormal from the SHORT devices.
- ``read.noise_rel`` from repeated reads of the same state (cycles x reads).
- ``switching`` (switching runs only): median Vc0 per direction, device spread of Vc0 with
  fit noise removed, median Delta, the write-error floor from its set-aside trials;
  ``tau0`` is the value the fits assumed.

Everything else (breakdown, converter, line resistance, open conductance, ...) keeps the
base profile's value and is listed as a default. Geometry, limits and nominal pulse come
from the runs' recorded layout.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.protocols.switching.fit import (
    METHOD_SYSTEMATIC,
    SPREAD_FLOOR,
    STATUS_OK,
    device_spread,
    unshrunk_delta,
)
from mtj_hil.runs.store.characterization import (
    Characterization,
    CharacterizationRun,
    load_characterization,
)
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.runs.store.switching import Switching, load_switching
from mtj_hil.sim.profile import DeviceProfile, as_dict, profile_from_dict

MIN_DIES_FOR_SPREAD = 3
SPREAD_SYSTEMATIC = 0.01
"""Relative systematic of the Vc0 device spread. The spread is now a maximum-likelihood fit
with each device's own fit variance (:func:`mtj_hil.protocols.switching.fit.device_spread`); on
single arrays of simulated dies it agrees with the sample spread of the true Vc0 to about
1 % (the earlier subtraction of the median fit variance from a MAD was about 0.7 % high and
noisier). Kept at 1 % until a lot-wide closure test shows it smaller."""
DELTA_SPREAD_SYSTEMATIC = 0.03
"""Relative systematic of the Delta device spread: after removing the prior's pull
(:func:`mtj_hil.protocols.switching.fit.unshrunk_delta`), closure tests with a 10 % Delta spread
(bench_switching.py --delta-sigma 0.1, 36 dies x 1 array x 2 directions) still find it
1.5 % below the truth's sample spread on average (it was about 5 % low from the MAP
estimates): what remains is of the order of the finite-trial bias of the estimates
(see :data:`mtj_hil.protocols.switching.fit.METHOD_SYSTEMATIC`)."""
MIN_SHORTS = 5


@dataclass
class FitValue:
    """A fitted value, its standard uncertainty (None if not estimable) and where it is from."""

    value: float
    sd: float | None
    source: str


@dataclass
class FittedProfile:
    """A fitted profile: the nested profile data, the fitted values, the defaults kept."""

    data: dict[str, Any]
    values: dict[str, FitValue] = field(default_factory=dict)
    defaults: list[str] = field(default_factory=list)
    derived: dict[str, FitValue] = field(default_factory=dict)
    runs: list[dict[str, str]] = field(default_factory=list)

    @property
    def profile(self) -> DeviceProfile:
        return profile_from_dict(self.data, source="fitted profile")


def _open_runs(paths: list[Path]) -> tuple[list[Characterization], list[Switching], list[Path]]:
    chars, sws, char_paths = [], [], []
    for p in paths:
        p = Path(p)
        if p.suffix.lower() == ".toml":
            raise StoreError(
                f"{p} is a TOML file (a profile or station?), not a run file; fit-profile "
                f"reads characterization and switching run files (.h5)"
            )
        with RunFile.open(p) as run:
            kind, status = run.kind, run.status
        if kind == "characterization":
            char = load_characterization(p)
            if not char.complete:
                raise StoreError(f"{p} is an unfinished characterization run ({status}); resume it")
            chars.append(char)
            char_paths.append(p)
        elif kind == "switching":
            sw = load_switching(p)
            if not sw.complete:
                raise StoreError(f"{p} is an unfinished switching run ({status}); resume it")
            sws.append(sw)
        else:
            raise StoreError(
                f"{p} is a {kind!r} run; fit-profile reads characterization and switching runs"
            )
    if not chars:
        raise StoreError("fit-profile needs at least one characterization run among its inputs")
    ref = _layout_key(chars[0].layout)
    for run in [*chars, *sws]:
        if _layout_key(run.layout) != ref:
            raise StoreError(
                f"{run.path} was measured on a die of layout {_layout_key(run.layout)}, the "
                f"others on {ref}; fit one kind of die at a time"
            )
    ids = [c.attrs.get("die_id") for c in chars]
    dup = {i for i in ids if ids.count(i) > 1}
    if dup:
        raise StoreError(
            f"die {sorted(dup)[0]!r} appears in more than one characterization run; give one "
            f"run per die (repeats would fake the die-to-die spread)"
        )
    return chars, sws, char_paths


def _layout_key(layout: dict[str, Any]) -> dict[str, Any]:
    return {k: layout.get(k) for k in ("n_arrays", "rows", "cols", "cell")}


def _noise_rel(path: Path, char: Characterization) -> tuple[float | None, int]:
    """Relative read noise from repeated P reads of GOOD devices, and reads per mean."""
    with RunFile.open(path) as run:
        sink = CharacterizationRun(run)
        arrays = [int(a) for a in char.arrays]
        data = sink.load_arrays(arrays)
    g = np.stack([data[a].g_after_p for a in arrays], axis=2)  # cycles, reads, arrays, r, c
    g = g.reshape(-1, *g.shape[2:])
    if g.shape[0] < 2:
        return None, g.shape[0]
    good = char.codes == DefectCode.GOOD
    # Noise is relative: average each device's relative variance (pooling absolute variances
    # would weight the high-conductance devices and bias the estimate by the R_P spread).
    rel_var = (g.var(axis=0, ddof=1) / g.mean(axis=0) ** 2)[good]
    return float(np.sqrt(rel_var.mean())), g.shape[0]


def _robust_sd(x: np.ndarray) -> float:
    return 1.4826 * float(np.median(np.abs(x - np.median(x))))


def _median_sd(per_die: list[float], pooled_sd: float, n: int) -> float:
    if len(per_die) >= 2:
        return float(np.std(per_die, ddof=1) / np.sqrt(len(per_die)))
    return 1.2533 * pooled_sd / np.sqrt(max(n, 1))


def fit_profile(paths: list[Path], base: DeviceProfile, name: str) -> FittedProfile:
    """Fit a profile from run files (see the module docstring).

    Raises:
        StoreError: a file is not a run file, of another kind, unfinished, a profile, a die
            repeated, or layouts that disagree (named).
        ConfigError: the fitted values do not make a valid profile.
    """
    chars, sws, char_paths = _open_runs([Path(p) for p in paths])
    data = as_dict(base)
    data["name"] = name
    fp = FittedProfile(data=data)
    fp.runs = [
        {"path": str(r.path), "kind": r.attrs.get("kind", ""), "die_id": str(r.attrs.get("die_id"))}
        for r in [*chars, *sws]
    ]
    n_dies = len(chars)
    src_c = f"{n_dies} characterization run{'s' if n_dies > 1 else ''}"
    layout = chars[0].layout
    data["geometry"] = {
        "n_arrays": int(layout["n_arrays"]),
        "rows": int(layout["rows"]),
        "cols": int(layout["cols"]),
        "cell": str(layout["cell"]),
    }
    data["limits"] = {k: float(v) for k, v in layout["limits"].items()}
    data["nominal_pulse"] = {k: float(v) for k, v in layout["nominal_pulse"].items()}
    data["description"] = f"fitted by mtj-hil fit-profile from {n_dies} characterized dies" + (
        f" and {len(sws)} switching runs" if sws else ""
    )

    def put(section: str, key: str, value: float, sd: float | None, source: str) -> None:
        data[section][key] = float(value)
        fp.values[f"{section}.{key}"] = FitValue(float(value), sd, source)

    # -- read noise -------------------------------------------------------------------------
    noises, n_avg = [], 1
    for path, char in zip(char_paths, chars, strict=True):
        value, n_avg = _noise_rel(path, char)
        if value is not None:
            noises.append(value)
    noise = float(np.mean(noises)) if noises else base.read.noise_rel
    if noises:
        sd = float(np.std(noises, ddof=1) / np.sqrt(len(noises))) if len(noises) > 1 else None
        put("read", "noise_rel", noise, sd, f"repeated reads, {src_c}")
    noise_var = noise**2 / max(n_avg, 1)

    # -- resistance -------------------------------------------------------------------------
    lp_all, lap_all, med_p, med_ap, sd_p, sd_ap, rho = [], [], [], [], [], [], []
    for char in chars:
        good = char.codes == DefectCode.GOOD
        lp, lap = -np.log(char.g_p[good]), -np.log(char.g_ap[good])
        lp_all.append(lp)
        lap_all.append(lap)
        med_p.append(float(np.median(lp)))
        med_ap.append(float(np.median(lap)))
        sd_p.append(_robust_sd(lp))
        sd_ap.append(_robust_sd(lap))
        rho.append(_correlation(lp, lap, noise_var))
    lp, lap = np.concatenate(lp_all), np.concatenate(lap_all)
    n_good = lp.size
    s_p = np.sqrt(max(_robust_sd(lp) ** 2 - noise_var, 0.0))
    s_ap = np.sqrt(max(_robust_sd(lap) ** 2 - noise_var, 0.0))
    states = (("p", lp, med_p, sd_p, s_p), ("ap", lap, med_ap, sd_ap, s_ap))
    for state, logs, meds, _, spread in states:
        median = np.exp(np.median(logs))
        put(
            "resistance",
            f"r_{state}_median",
            median,
            median * _median_sd(meds, spread, n_good),
            f"GOOD devices, {src_c}",
        )
    for state, _, _, sds, spread in states:
        put(
            "resistance",
            f"r_{state}_sigma",
            spread,
            _spread_sd(sds, spread, n_good),
            f"robust spread of ln R_{state.upper()}, {src_c}",
        )
    r = _correlation(lp, lap, noise_var)
    r_sd = (
        float(np.std(rho, ddof=1) / np.sqrt(len(rho)))
        if len(rho) > 1
        else (1 - r * r) / np.sqrt(n_good)
    )
    put("resistance", "rp_rap_correlation", r, r_sd, f"ln R_P vs ln R_AP, {src_c}")
    tmr = data["resistance"]["r_ap_median"] / data["resistance"]["r_p_median"] - 1.0
    rel = np.hypot(
        fp.values["resistance.r_p_median"].sd / data["resistance"]["r_p_median"],
        fp.values["resistance.r_ap_median"].sd / data["resistance"]["r_ap_median"],
    )
    fp.derived["tmr"] = FitValue(tmr, (1 + tmr) * rel, "r_ap_median / r_p_median - 1")

    # -- defects ----------------------------------------------------------------------------
    _fit_defects(chars, fp, put, src_c, noise_var, base)

    # -- switching --------------------------------------------------------------------------
    if sws:
        _fit_switching(sws, fp, put)
    else:
        fp.defaults += [
            f"switching.{k}"
            for k in (
                "vc_to_p",
                "vc_to_ap",
                "vc_sigma",
                "delta",
                "delta_sigma",
                "tau0",
                "write_error_floor",
            )
        ]
    fp.defaults += [
        "switching.half_select",
        "switching.breakdown_voltage",
        "switching.breakdown_sigma",
        "switching.breakdown_floor",
        "defects.open_g",
        "read.noise_abs",
        "read.offset_sigma",
        "read.adc_bits",
        "read.adc_full_scale",
        "read.line_resistance",
        "read.read_width",
    ]
    if "read.noise_rel" not in fp.values:
        fp.defaults.append("read.noise_rel")
    profile_from_dict(data, source=f"profile fitted from {len(paths)} runs")
    return fp


def _correlation(lp: np.ndarray, lap: np.ndarray, noise_var: float) -> float:
    """Correlation of ln R_P and ln R_AP within 5 robust sigmas, noise removed from variances."""
    keep = (np.abs(lp - np.median(lp)) < 5 * _robust_sd(lp) + 1e-12) & (
        np.abs(lap - np.median(lap)) < 5 * _robust_sd(lap) + 1e-12
    )
    a, b = lp[keep], lap[keep]
    if a.size < 3:
        return 0.0
    cov = float(np.cov(a, b)[0, 1])
    va, vb = max(a.var() - noise_var, 1e-30), max(b.var() - noise_var, 1e-30)
    return float(np.clip(cov / np.sqrt(va * vb), -1.0, 1.0))


def _spread_sd(per_die: list[float], pooled: float, n: int) -> float:
    if len(per_die) >= 2:
        return float(np.std(per_die, ddof=1) / np.sqrt(len(per_die)))
    return float(pooled / np.sqrt(2 * max(n, 1)))


def _fit_defects(chars, fp: FittedProfile, put, src_c: str, noise_var: float, base) -> None:
    classes = (
        (DefectCode.SHORT, "short_rate"),
        (DefectCode.OPEN, "open_rate"),
        (DefectCode.STUCK_P, "stuck_p_rate"),
        (DefectCode.STUCK_AP, "stuck_ap_rate"),
    )
    counts = np.zeros((len(chars), len(classes)))
    devices = np.zeros(len(chars))
    lines = arrays_total = 0
    short_g = []
    for d, char in enumerate(chars):
        codes = char.codes
        whole_open = (codes == DefectCode.OPEN).all(axis=1)  # (arrays, cols)
        lines += int(whole_open.sum())
        arrays_total += codes.shape[0]
        line_mask = np.broadcast_to(whole_open[:, None, :], codes.shape)
        for j, (code, _) in enumerate(classes):
            counts[d, j] = ((codes == code) & ~line_mask).sum()
        devices[d] = codes.size
        s = codes == DefectCode.SHORT
        short_g.append(np.sqrt(char.g_p[s] * char.g_ap[s]))
    total = devices.sum()
    cv, cv_sd = _die_spread(counts.sum(axis=1), devices)
    for j, (_, key) in enumerate(classes):
        k = counts[:, j].sum()
        rate = k / total
        rel = np.sqrt(1.0 / max(k, 1.0) + (cv**2 if np.isfinite(cv) else 0.0) / len(chars))
        put(
            "defects",
            key,
            rate,
            rate * rel if k else 1.0 / total,
            f"{int(k)} devices of {int(total)}, {src_c}",
        )
    put(
        "defects",
        "line_open_rate",
        lines / arrays_total,
        np.sqrt(max(lines, 1)) / arrays_total,
        f"{lines} whole-open output lines in {arrays_total} arrays",
    )
    if np.isfinite(cv):
        put("defects", "die_spread", cv, cv_sd, f"moments of per-die defect counts, {src_c}")
    else:
        fp.defaults.append("defects.die_spread")
    g = np.concatenate(short_g)
    if g.size >= MIN_SHORTS:
        lg = np.log(g)
        s = np.sqrt(max(_robust_sd(lg) ** 2 - noise_var, 0.0))
        put(
            "defects",
            "short_g_median",
            np.exp(np.median(lg)),
            np.exp(np.median(lg)) * 1.2533 * s / np.sqrt(g.size),
            f"{g.size} SHORT devices",
        )
        put("defects", "short_g_sigma", s, s / np.sqrt(2 * g.size), f"{g.size} SHORT devices")
    else:
        fp.defaults += ["defects.short_g_median", "defects.short_g_sigma"]


def _die_spread(n: np.ndarray, devices: np.ndarray, boots: int = 400) -> tuple[float, float]:
    """Coefficient of variation of the per-die rate factor from per-die defect counts."""
    if len(n) < MIN_DIES_FOR_SPREAD:
        return float("nan"), float("nan")

    def cv_of(counts: np.ndarray, dev: np.ndarray) -> float:
        lam = counts / dev * dev.mean()
        m = lam.mean()
        return float(np.sqrt(max(lam.var(ddof=1) - m, 0.0)) / m) if m > 0 else 0.0

    value = cv_of(n, devices)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(n), size=(boots, len(n)))
    sd = float(np.std([cv_of(n[i], devices[i]) for i in idx]))
    return value, sd


def _fit_switching(sws: list[Switching], fp: FittedProfile, put) -> None:
    src = f"{len(sws)} switching run{'s' if len(sws) > 1 else ''}"
    deltas, delta_sds, sigmas = [], [], []
    fails = trials = 0
    tau0s = set()
    for direction, key in (("P", "vc_to_p"), ("AP", "vc_to_ap")):
        vcs, vc_sds = [], []
        for sw in sws:
            fit = sw.analysis.directions[direction]
            ok = fit.status == STATUS_OK
            vcs.append(fit.vc[ok])
            vc_sds.append(fit.vc_sd[ok])
            deltas.append(fit.delta[ok])
            d_mle, d_mle_sd = unshrunk_delta(fit.vc, fit.delta, fit.cov, fit.status)
            delta_sds.append((d_mle[ok.ravel()], d_mle_sd[ok.ravel()]))
            fails += fit.floor.failures
            trials += fit.floor.trials
            tau0s.add(sw.analysis.tau0)
        vc, vc_sd = np.concatenate(vcs), np.concatenate(vc_sds)
        if vc.size == 0:
            fp.defaults.append(f"switching.{key}")
            continue
        med = float(np.median(vc))
        spread = _robust_sd(vc)
        put(
            "switching",
            key,
            med,
            float(np.hypot(1.2533 * spread / np.sqrt(vc.size), METHOD_SYSTEMATIC * med)),
            f"{vc.size} fitted devices (with the method's systematic), {src}",
        )
        s_abs, s_abs_sd, centre = device_spread(vc, vc_sd)
        sigmas.append((s_abs / centre, s_abs_sd / centre))
    if sigmas:
        s = float(np.mean([x for x, _ in sigmas]))
        s_sd = float(np.sqrt(sum(e**2 for _, e in sigmas))) / len(sigmas)
        put(
            "switching",
            "vc_sigma",
            s,
            float(np.hypot(s_sd, SPREAD_SYSTEMATIC * s)),
            f"device spread of fitted Vc0, fit noise removed (with the method's systematic), {src}",
        )
    d = np.concatenate(deltas)
    if d.size:
        put(
            "switching",
            "delta",
            float(np.median(d)),
            float(
                np.hypot(1.2533 * _robust_sd(d) / np.sqrt(d.size), METHOD_SYSTEMATIC * np.median(d))
            ),
            f"{d.size} fitted device-directions (with the method's systematic), {src}",
        )
    else:
        fp.defaults.append("switching.delta")
    d_mle = np.concatenate([d for d, _ in delta_sds])
    if d_mle.size >= 3:
        # Device-directions pooled: both directions measure one barrier per device.
        s_abs, s_abs_sd, centre = device_spread(d_mle, np.concatenate([e for _, e in delta_sds]))
        put(
            "switching",
            "delta_sigma",
            s_abs / centre,
            float(
                np.sqrt(
                    (s_abs_sd / centre) ** 2
                    + (DELTA_SPREAD_SYSTEMATIC * s_abs / centre) ** 2
                    + SPREAD_FLOOR**2
                )
            ),
            "device spread of fitted Delta, prior pull and fit noise removed (with the "
            f"method's systematic), {src}",
        )
    else:
        fp.defaults.append("switching.delta_sigma")
    if len(tau0s) > 1:
        raise StoreError(
            f"the switching runs assumed different tau0 values {sorted(tau0s)}; refit alike"
        )
    put("switching", "tau0", tau0s.pop(), None, "assumed by the switching fits (not identifiable)")
    if trials:
        f = fails / trials
        put(
            "switching",
            "write_error_floor",
            f,
            np.sqrt(max(fails, 1)) / trials,
            f"{fails} failures in {trials} set-aside trials, {src}",
        )
    else:
        fp.defaults.append("switching.write_error_floor")
