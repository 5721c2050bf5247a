"""A device profile fitted from measured runs: characterisation runs of one or many dies and,
where present, switching runs.

What is fitted and how (ln R is Gaussian under a lognormal; noise is removed from spreads):

- ``resistance``: medians of ln R_P and ln R_AP of GOOD devices at zero bias where that can
  be known (each device through its own bias signature, else through the base profile's
  ``[bias]`` law), else at the read voltage, and the source says which
  (:mod:`mtj_hil.profile_fit.resistance`); spreads robust (1.4826 x MAD) with the read noise
  of the averaged reads removed; the correlation of ln R_P and ln R_AP. The law of ln R_P
  (one lognormal, populations of several sizes, or skew-normal) by BIC: ``[populations]``.
- ``[bias]``: from runs with a second read voltage; else carried from the base profile and
  listed as a default.
- ``defects``: rates with UNCERTAIN devices apportioned by their posterior, line opens and
  shorted lines apart from point defects, resistive opens, the die-to-die spread
  (:mod:`mtj_hil.profile_fit.defects`).
- ``[spatial]``: an edge band, scratches and particle clusters from the defect maps
  (:mod:`mtj_hil.profile_fit.spatial`), left out of the point-defect rates.
- ``[drift]``: temperature drift over a run from the per-array medians against the time each
  array was measured (:mod:`mtj_hil.profile_fit.drift`), written only when the data show it.
- ``[telegraph]``: fraction and amplitude of two-level fluctuators from the ranges of each
  GOOD device's repeated reads (:mod:`mtj_hil.profile_fit.telegraph`), only when shown.
- ``[pinholes]``: fraction and leak law from the GOOD devices' TMR
  (:mod:`mtj_hil.profile_fit.pinholes`), only when shown.
- ``read.noise_rel`` from a robust spread of repeated reads; ``read.offset_sigma`` from the
  sense offsets the classifier estimated per output line.
- ``switching`` (switching runs only): :mod:`mtj_hil.profile_fit.switching`.

Everything else (breakdown, converter, line resistance, open conductance, ...) keeps the
base profile's value and is listed as a default. Geometry, limits and nominal pulse come
from the runs' recorded layout. Goodness-of-fit checks (:mod:`mtj_hil.profile_fit.checks`)
turn into warnings naming the check, the parameter and the runs.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.profile_fit import checks, pinholes
from mtj_hil.profile_fit.bounds import keep_in_range
from mtj_hil.profile_fit.defects import die_defects, fit_defects
from mtj_hil.profile_fit.drift import put_drift
from mtj_hil.profile_fit.resistance import (
    fit_bias,
    fit_law,
    fit_law_sigma,
    read_noise,
    robust_sd,
    run_levels,
)
from mtj_hil.profile_fit.runs import open_runs
from mtj_hil.profile_fit.spatial import put_spatial
from mtj_hil.profile_fit.switching import fit_switching
from mtj_hil.profile_fit.telegraph import put_telegraph, tail_share
from mtj_hil.protocols.chip import BENCH_RESOLUTION, Limits
from mtj_hil.protocols.errors import ProtocolError
from mtj_hil.sim.profile import DeviceProfile, as_dict, profile_from_dict
from mtj_hil.sim.profile_sections import Telegraph

DIE_LIMITS = tuple(f.name for f in fields(Limits) if f.name not in BENCH_RESOLUTION)
"""The recorded layout's limits a profile's ``[limits]`` takes."""

MIN_GOOD_DEVICES = 20
"""Fewer GOOD devices than this (all runs together) and the fit warns that its resistance
law is rough; with none it refuses."""

SYSTEMATIC = {
    "resistance.r_p_median": ("rel", 0.002),
    "resistance.r_ap_median": ("rel", 0.002),
    "resistance.r_p_sigma": ("rel", 0.03),
    "resistance.r_ap_sigma": ("rel", 0.03),
    "resistance.rp_rap_correlation": ("abs", 0.01),
    "bias.v_half": ("rel", 0.005),
    "bias.v_half_sigma": ("rel", 0.08),
    "bias.p_curvature": ("rel", 0.03),
    "read.noise_rel": ("rel", 0.03),
    "read.offset_sigma": ("rel", 0.05),
    "defects.short_g_median": ("rel", 0.01),
    "defects.short_g_sigma": ("rel", 0.06),
    "telegraph.amplitude": ("rel", 0.04),
}
"""Method systematics added in quadrature to the statistical uncertainty, from the closure
tests of ``scripts/bench_profile_fit.py`` against the realised truth of simulated lots: the
medians keep the die's mean sense offset (which good devices cannot tell from a different
TMR) and the zero-bias conversion's noise, ~0.1-0.2 %; the bias law's values come from
noisy per-device curvatures through a non-linear map (v_half 0.5 %, its spread 8 %, the P
curvature ratio 3 %); spreads and the correlation carry the read-noise subtraction; the
short spread (a MAD of a few hundred shorts whose extreme ones the classifier may leave
UNCERTAIN) came out 6 % low; the fluctuators' median amplitude 3-5 % high (it rests on the
assumed amplitude spread and read spacing, and on a read noise the fluctuators widen a
little)."""
BASE_KEEPS = (
    "switching.half_select",
    "switching.breakdown_voltage",
    "switching.breakdown_sigma",
    "switching.breakdown_floor",
    "defects.open_g",
    "read.noise_abs",
    "read.adc_bits",
    "read.adc_full_scale",
    "read.line_resistance",
    "read.read_width",
)

PASSIVE_ONLY = ("switching.half_select", "read.line_resistance")
"""Keys a 1T1R profile holds at off (0 / false): they model passive arrays only."""


@dataclass
class FitValue:
    """A fitted value, its standard uncertainty (None if not estimable) and where it is from."""

    value: float
    sd: float | None
    source: str


@dataclass
class FittedProfile:
    """A fitted profile: the nested profile data, the fitted values, the defaults kept, and
    the goodness-of-fit warnings."""

    data: dict[str, Any]
    values: dict[str, FitValue] = field(default_factory=dict)
    defaults: list[str] = field(default_factory=list)
    derived: dict[str, FitValue] = field(default_factory=dict)
    runs: list[dict[str, str]] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def profile(self) -> DeviceProfile:
        return profile_from_dict(self.data, source="fitted profile")


def fit_profile(paths: list[Path], base: DeviceProfile, name: str) -> FittedProfile:
    """Fit a profile from run files (see the module docstring).

    Raises:
        StoreError: a file is not a run file, of another kind, unfinished, a profile, a die
            repeated, layouts that disagree, or read voltages that cannot be reconciled
            (named).
        ConfigError: the fitted values do not make a valid profile.
        ProtocolError: no GOOD device in any of the runs.
    """
    chars, sws = open_runs([Path(p) for p in paths])
    data = as_dict(base)
    data["name"] = name
    fp = FittedProfile(data=data)
    fp.runs = [
        {"path": str(c.path), "kind": "characterization", "die_id": str(c.char.attrs.get("die_id"))}
        for c in chars
    ] + [
        {"path": str(s.path), "kind": "switching", "die_id": str(s.attrs.get("die_id"))}
        for s in sws
    ]
    names = [c.name for c in chars]
    n_dies = len(chars)
    src = f"{n_dies} characterization run{'s' if n_dies > 1 else ''}"
    layout = chars[0].char.layout
    data["geometry"] = {k: layout[k] for k in ("n_arrays", "rows", "cols", "cell")}
    data["limits"] = {k: float(layout["limits"][k]) for k in DIE_LIMITS}
    data["nominal_pulse"] = {k: float(v) for k, v in layout["nominal_pulse"].items()}
    data["description"] = f"fitted by mtj-hil fit-profile from {n_dies} characterized dies" + (
        f" and {len(sws)} switching runs" if sws else ""
    )

    def put(section: str, key: str, value: float, sd: float | None, source: str) -> None:
        data.setdefault(section, {})[key] = float(value)
        full = f"{section}.{key}"
        if sd is not None and full in SYSTEMATIC:
            kind, size = SYSTEMATIC[full]
            sd = float(np.hypot(sd, size * abs(value) if kind == "rel" else size))
        fp.values[full] = FitValue(float(value), sd, source)

    # -- read noise (robust) ----------------------------------------------------------------
    noises, n_avg, how = [], 1, ""
    for c in chars:
        value, n_avg, how = read_noise(c)
        if value is not None:
            noises.append(value)
    noise = float(np.median(noises)) if noises else base.read.noise_rel
    if noises:
        sd = float(np.std(noises, ddof=1) / np.sqrt(len(noises))) if len(noises) > 1 else None
        put("read", "noise_rel", noise, sd, f"{how}, {src}")
    noise_var = noise**2 / max(n_avg, 1)

    # -- resistance, at zero bias where it can be known ---------------------------------------
    base_tmr = base.resistance.r_ap_median / base.resistance.r_p_median - 1.0
    all_levels = [run_levels(c, base.bias, base_tmr) for c in chars]
    n_good = [lv.lp.size for lv in all_levels]
    counts = ", ".join(f"{c.name}: {n}" for c, n in zip(chars, n_good, strict=True))
    if not sum(n_good):
        raise ProtocolError(
            f"the runs hold no GOOD device with finite readings ({counts}), so there is no "
            "resistance law to fit: their devices did not switch or were not settled "
            "('mtj-hil show RUN' says why); fit runs of dies that were written"
        )
    if sum(n_good) < MIN_GOOD_DEVICES:
        fp.warnings.append(
            f"the resistance law rests on {sum(n_good)} GOOD devices ({counts}): its "
            "medians and spreads are rough; fit more arrays or dies"
        )
    levels = [lv.core() for lv in all_levels]
    hows = sorted({lv.how.split(" (")[0] for lv in levels})
    where = "; ".join(hows)
    lp, lap = np.concatenate([lv.lp for lv in levels]), np.concatenate([lv.lap for lv in levels])
    law = fit_law(lp)
    _put_resistance(put, fp, levels, lp, lap, law, noise_var, f"GOOD devices {where}, {src}")
    if not all(lv.zero_bias for lv in levels):
        fp.warnings.append(
            "resistance medians are stated at the read voltage, not at zero bias: the runs "
            "read at one voltage and the base profile is ohmic (measure with --bias-voltage)"
        )
    tmr0 = data["resistance"]["r_ap_median"] / data["resistance"]["r_p_median"] - 1.0

    # -- bias dependence ------------------------------------------------------------------------
    passive = str(chars[0].char.layout.get("cell", "")).lower() == "passive"
    if passive:
        # a profile states [bias] for 1T1R cells only (the simulator models no bias law for
        # passive arrays): neither the base's section nor one fitted is written
        if data.pop("bias", None) is not None or any(lv.k_p is not None for lv in levels):
            fp.warnings.append(
                "no [bias] section is written: profiles of passive arrays have none (bias "
                "signatures measured still bring the resistances to zero bias)"
            )
    elif any(lv.k_p is not None for lv in levels):
        data["bias"] = data.get("bias") or {}
        for key, (value, sd) in fit_bias(levels, tmr0, _ln_k_noise(chars)).items():
            put("bias", key, value, sd, f"bias signatures of the GOOD devices, {src}")
    elif base.bias is not None:
        fp.defaults += ["bias.v_half", "bias.v_half_sigma", "bias.p_curvature"]

    # -- defects -----------------------------------------------------------------------------
    dies = [die_defects(c) for c in chars]
    structures = [d.spatial_mask for d in dies]
    spatial = put_spatial(chars, structures, base, put, data)
    dies = [die_defects(c, exclude=ex) for c, ex in zip(chars, spatial, strict=True)]
    fit_defects(dies, put, fp.defaults, src, noise_var)

    # -- sense offsets -----------------------------------------------------------------------
    spreads = [c.char.model.get("line_offsets", {}) for c in chars]
    applied = [s for s in spreads if s.get("applied") and s.get("unit") == "A"]
    if applied:
        vals = [float(s["spread"]) for s in spreads if s.get("unit") == "A"]
        value = float(np.sqrt(np.mean(np.square(vals))))
        sd = float(np.std(vals, ddof=1) / np.sqrt(len(vals))) if len(vals) > 1 else None
        put("read", "offset_sigma", value, sd, f"per-line sense offsets (held-out spread), {src}")
    else:
        fp.defaults.append("read.offset_sigma")

    # -- temperature drift over the run -------------------------------------------------------
    shifts, untimed, unheld = put_drift(chars, base, put, data, fp.defaults)
    if unheld:
        fp.warnings.append(
            f"drift check failed for [drift]: the arrays' levels move with measurement time "
            f"but the fitted drift is out of the profile's range ({unheld}); no [drift] "
            "section is written"
        )
    if untimed:
        fp.warnings.append(
            f"the [drift] section cannot be fitted from runs {checks.runs_list(untimed)}: they "
            "record no measurement time per array (run files from before "
            "characterization/array_time); drift over a run cannot be told from them"
        )

    # -- telegraph noise ------------------------------------------------------------------------
    telegraph = put_telegraph(chars, base, put, data, fp.defaults)
    tails = 0.0
    if telegraph is not None and telegraph.misfit:
        fp.warnings.append(
            "telegraph check failed for [telegraph]: repeated reads of GOOD devices jump beyond "
            f"read noise (likelihood ratio {telegraph.lr:.0f}) but their ranges do not follow "
            f"two-level fluctuators (shape p = {telegraph.p_shape:.1g}; P reads jump low and AP "
            f"reads high by z = {telegraph.z_direction:.1f}); half-way switching or failed "
            "writes? No [telegraph] section is written"
        )
    if telegraph is not None and telegraph.shown:
        tails = tail_share(telegraph, base.telegraph or Telegraph(), checks.TAIL_SIGMAS)

    # -- pinhole leaks -------------------------------------------------------------------------
    leaks = pinholes.put_pinholes(chars, base, put, data)
    if leaks is not None and leaks.misfit:
        fp.warnings.append(
            "pinhole check failed for [pinholes]: the GOOD devices' TMR falls below the rest "
            f"beyond chance (likelihood ratio {leaks.lr:.0f}) but not as leaks in parallel do "
            f"(shape p = {leaks.p_shape:.1g}); no [pinholes] section is written"
        )
    low_tmr = 0.0 if leaks is None else pinholes.tail_share(leaks, checks.TAIL_SIGMAS)

    # -- switching ---------------------------------------------------------------------------
    if sws:
        fit_switching(sws, fp, put)
    else:
        fp.defaults += [
            f"switching.{k}"
            for k in ("vc_to_p", "vc_to_ap", "vc_sigma", "delta", "delta_sigma", "tau0")
        ] + ["switching.write_error_floor"]
    if passive:
        fp.defaults += list(BASE_KEEPS)
    else:
        # 1T1R cells have neither line resistance nor half-select disturb (a profile that
        # states them does not load): a passive base's values are not carried over
        data["read"]["line_resistance"] = 0.0
        data["switching"]["half_select"] = False
        fp.defaults += [k for k in BASE_KEEPS if k not in PASSIVE_ONLY]
    if "read.noise_rel" not in fp.values:
        fp.defaults.append("read.noise_rel")

    # -- goodness of fit ---------------------------------------------------------------------
    floor = data["switching"]["write_error_floor"]
    fp.warnings += checks.shape_check(names, levels, law, float(np.sqrt(noise_var)))
    fp.warnings += checks.tmr_tail_check(names, all_levels, low_tmr)
    fp.warnings += checks.spatial_check(
        names, chars, [s | ex for s, ex in zip(structures, spatial, strict=True)]
    )
    fp.warnings += checks.homogeneity_check(names, levels)
    fp.warnings += checks.drift_check(names, chars, shifts)
    fp.warnings += checks.noise_tail_check(names, chars, tails)
    fp.warnings += checks.write_check(names, chars, floor)
    fp.warnings += keep_in_range(data, fp.values)
    profile_from_dict(data, source=f"profile fitted from {', '.join(names)}")
    return fp


def _put_resistance(put, fp, levels, lp, lap, law, noise_var: float, source: str) -> None:
    """Medians, spreads, correlation and the populations / skew section."""
    if law.kind == "populations":
        # devices of the heaviest population: median, spread and correlation from them
        sel = np.abs(lp - law.centre) < 2.0 * law.sigma
        order = np.argsort(-law.weights)
        fp.data["populations"] = {
            "fractions": [float(w) for w in law.weights[order]],
            "r_scale": [float(np.exp(o)) for o in law.offsets[order]],
            "skew": 0.0,
        }
        for i, (w, o) in enumerate(zip(law.weights[order], law.offsets[order], strict=True)):
            fp.values[f"populations.fractions[{i}]"] = FitValue(
                float(w), float(np.sqrt(w * (1 - w) / lp.size)), f"mixture weight, {source}"
            )
            fp.values[f"populations.r_scale[{i}]"] = FitValue(
                float(np.exp(o)),
                float(np.exp(o) * law.sigma * np.sqrt(2.0 / max(w * lp.size, 1))),
                f"population median over the main one's, {source}",
            )
        centre_p = law.centre
    elif law.kind == "skew":
        sel = np.ones(lp.size, bool)
        fp.data["populations"] = {"fractions": [1.0], "r_scale": [1.0], "skew": float(law.skew)}
        fp.values["populations.skew"] = FitValue(
            float(law.skew),
            float(2.0 / np.sqrt(lp.size) * (1 + abs(law.skew))),
            f"skew-normal by BIC, {source}",
        )
        centre_p = float(np.mean(lp))
    else:
        sel = np.ones(lp.size, bool)
        fp.data.pop("populations", None)
        centre_p = float(np.median(lp))
    tmr_ln = float(np.median((lap - lp)[sel]))
    centre_ap = centre_p + tmr_ln
    per_p = [float(np.median(lv.lp)) for lv in levels]
    per_ap = [float(np.median(lv.lap)) for lv in levels]
    for state, centre, per in (("p", centre_p, per_p), ("ap", centre_ap, per_ap)):
        med = float(np.exp(centre))
        spread = np.sqrt(max(robust_sd((lp if state == "p" else lap)[sel]) ** 2 - noise_var, 0.0))
        if law.kind == "skew":
            spread = np.sqrt(max(float(np.std(lp if state == "p" else lap)) ** 2 - noise_var, 0.0))
        sd_med = (
            float(np.std(per, ddof=1) / np.sqrt(len(per)))
            if len(per) >= 2
            else 1.2533 * spread / np.sqrt(max(int(sel.sum()), 1))
        )
        put("resistance", f"r_{state}_median", med, med * sd_med, source)
        per_sd = [robust_sd(lv.lp if state == "p" else lv.lap) for lv in levels]
        sd_sp = (
            float(np.std(per_sd, ddof=1) / np.sqrt(len(per_sd)))
            if len(per_sd) >= 2
            else spread / np.sqrt(2 * max(int(sel.sum()), 1))
        )
        put("resistance", f"r_{state}_sigma", spread, sd_sp, f"robust spread of ln R, {source}")
    if law.kind == "populations":
        # Sizes move ln R_P and ln R_AP together: the contrast's spread does not see them.
        s_p = np.sqrt(max(law.sigma**2 - noise_var, 1e-12))
        s_ap = np.sqrt(max(fit_law_sigma(lap, law) ** 2 - noise_var, 1e-12))
        var_d = max(robust_sd(lap - lp) ** 2 - 2 * noise_var, 0.0)
        r = float(np.clip((s_p**2 + s_ap**2 - var_d) / (2 * s_p * s_ap), -1, 1))
    else:
        r = _correlation(lp[sel], lap[sel], noise_var)
    per_r = [_correlation(lv.lp, lv.lap, noise_var) for lv in levels]
    if law.kind == "populations":
        per_r = [r]
    r_sd = (
        float(np.std(per_r, ddof=1) / np.sqrt(len(per_r)))
        if len(per_r) > 1
        else (1 - r * r) / np.sqrt(lp.size)
    )
    put("resistance", "rp_rap_correlation", r, r_sd, f"ln R_P vs ln R_AP, {source}")
    tmr = fp.data["resistance"]["r_ap_median"] / fp.data["resistance"]["r_p_median"] - 1.0
    rel = np.hypot(
        fp.values["resistance.r_p_median"].sd / fp.data["resistance"]["r_p_median"],
        fp.values["resistance.r_ap_median"].sd / fp.data["resistance"]["r_ap_median"],
    )
    fp.derived["tmr"] = FitValue(tmr, (1 + tmr) * rel, "r_ap_median / r_p_median - 1")


def _ln_k_noise(chars) -> float:
    """Read noise of ln k_AP of one device: the signature's per-cycle noise over the cycles,
    times d ln k / d b at the median AP signature."""
    with_bias = [c for c in chars if c.bias_voltage and c.char.model.get("bias_signature")]
    if not with_bias:
        return 0.0
    models = [c.char.model["bias_signature"] for c in with_bias]
    sig = float(np.median([m.get("read_noise_per_cycle", 0.0) for m in models]))
    b = float(np.median([m.get("ap_median", 0.0) for m in models]))
    cycles = max(int(with_bias[0].char.plan.get("cycles", 1)), 1)
    v1, v2 = with_bias[0].read_voltage, float(with_bias[0].bias_voltage)
    e = np.exp(b)
    slope = e / max(e - 1.0, 1e-9) + e * v1 * v1 / max(v2 * v2 - e * v1 * v1, 1e-9)
    return float(sig / np.sqrt(cycles) * slope)


def _correlation(lp: np.ndarray, lap: np.ndarray, noise_var: float) -> float:
    """Correlation of ln R_P and ln R_AP within 5 robust sigmas, noise removed from variances."""
    keep = (np.abs(lp - np.median(lp)) < 5 * robust_sd(lp) + 1e-12) & (
        np.abs(lap - np.median(lap)) < 5 * robust_sd(lap) + 1e-12
    )
    a, b = lp[keep], lap[keep]
    if a.size < 3:
        return 0.0
    cov = float(np.cov(a, b)[0, 1])
    va, vb = max(a.var() - noise_var, 1e-30), max(b.var() - noise_var, 1e-30)
    return float(np.clip(cov / np.sqrt(va * vb), -1.0, 1.0))
