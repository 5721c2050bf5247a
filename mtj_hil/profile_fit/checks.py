"""Goodness-of-fit checks of a fitted profile against the runs it came from.

Each check compares the data with what the fitted profile would generate and, where they
disagree beyond sampling, returns a warning naming the check, the parameter(s) concerned
and the runs:

- **shape**: ln R_P of the GOOD devices of each run against the fitted law (lognormal,
  populations or skew-normal, read noise added): Kolmogorov-Smirnov distance and p-value.
- **TMR tail**: GOOD devices whose TMR sits far below the rest (pinhole leaks, half-way
  switches), which the profile's correlated lognormals do not make.
- **spatial clustering**: point defects next to each other (join count of 4-neighbour
  pairs) against the count random placement gives (the profile places defects at random).
- **die-to-die homogeneity**: per-die medians of ln R_P against their sampling error (the
  profile has one median for every die).
- **drift**: per-array medians against the order arrays were measured in, after the fitted
  ``[drift]`` where the runs record when each array was measured.
- **read-noise tail**: repeated reads that jump by more than 6 robust sigmas (telegraph
  noise, failed or half-way writes), which Gaussian read noise does not make.
- **writes**: the classifier's measured per-cycle write failure rate against the profile's
  write-error floor.
"""

from __future__ import annotations

import warnings

import numpy as np
from scipy.stats import kstest, norm, skewnorm

from mtj_hil.profile_fit.resistance import Levels, ResistanceLaw, robust_sd
from mtj_hil.profile_fit.runs import CharRun
from mtj_hil.protocols.defects.codes import DefectCode

KS_P, KS_D = 1e-3, 0.02
"""The shape check warns when the KS p-value is below KS_P and the distance above KS_D."""
Z_WARN = 5.0
"""A clustering, homogeneity or drift statistic this many sigmas out warns."""
TAIL_SIGMAS = 6.0
TAIL_SHARE = 1e-4
TAIL_COUNT = 10
"""A share of devices (or reads) beyond TAIL_SIGMAS robust sigmas above TAIL_SHARE, and at
least TAIL_COUNT of them in a run, warns (a Gaussian puts 2e-9 of its mass there: the clean
lots of ``scripts/bench_profile_fit.py`` show none)."""


def runs_list(names: list[str]) -> str:
    """Up to six run names, then how many more."""
    return _runs(names)


def _runs(names: list[str]) -> str:
    return ", ".join(names[:6]) + (f" and {len(names) - 6} more" if len(names) > 6 else "")


def law_cdf(law: ResistanceLaw, noise: float):
    """CDF of ln R_P under the fitted law with the read noise of the stored means added."""
    if law.kind == "skew":
        d = law.skew / np.sqrt(1 + law.skew**2)
        scale = law.sigma / np.sqrt(1 - 2 * d * d / np.pi)
        loc = law.centre - scale * d * np.sqrt(2 / np.pi)
        return lambda x: skewnorm.cdf(x, law.skew, loc, scale)
    s = float(np.hypot(law.sigma, noise)) if law.kind != "lognormal" else law.sigma
    return lambda x: sum(
        w * norm.cdf(x, law.centre + m, s) for w, m in zip(law.weights, law.offsets, strict=True)
    )


def shape_check(names, levels: list[Levels], law: ResistanceLaw, noise: float) -> list[str]:
    cdf = law_cdf(law, noise)
    bad = []
    worst = 0.0
    for name, lv in zip(names, levels, strict=True):
        res = kstest(lv.lp[np.isfinite(lv.lp)], cdf)
        if res.pvalue < KS_P and res.statistic > KS_D:
            bad.append(name)
            worst = max(worst, float(res.statistic))
    if not bad:
        return []
    key = {"lognormal": "resistance.r_p_sigma", "skew": "populations.skew"}.get(
        law.kind, "populations.fractions"
    )
    return [
        f"shape check failed for {key} ({law.kind} law of ln R_P): the GOOD devices do not "
        f"follow it (Kolmogorov-Smirnov distance up to {worst:.3f}) in runs {_runs(bad)}"
    ]


def tmr_tail_check(names, levels: list[Levels], expected: float = 0.0) -> list[str]:
    """GOOD devices with a TMR far below the rest, beyond ``expected`` (the share the fitted
    ``[pinholes]`` makes) by TAIL_SHARE and TAIL_COUNT plus five Poisson sigmas."""
    bad, share = [], 0.0
    for name, lv in zip(names, levels, strict=True):
        t = lv.lap - lv.lp
        t = t[np.isfinite(t)]
        tail = t < np.median(t) - TAIL_SIGMAS * max(robust_sd(t), 1e-4)
        want = expected * t.size
        excess = float(tail.sum()) - want
        low = excess / max(t.size, 1)
        if low > TAIL_SHARE and excess >= TAIL_COUNT + 5.0 * np.sqrt(want):
            bad.append(name)
            share = max(share, low)
    if not bad:
        return []
    return [
        f"TMR-tail check failed for resistance.r_ap_median / rp_rap_correlation: up to "
        f"{100 * share:.2f} % of the GOOD devices have a TMR more than {TAIL_SIGMAS:g} sigmas "
        f"below the rest (pinhole leaks or half-way switching?) in runs {_runs(bad)}"
        + (
            " beyond what the fitted [pinholes] make"
            if expected
            else "; the profile's lognormals do not make them"
        )
    ]


def spatial_check(names, runs: list[CharRun], structure: list[np.ndarray]) -> list[str]:
    obs = exp = 0.0
    bad = []
    for name, run, line in zip(names, runs, structure, strict=True):
        codes = run.char.codes
        d = np.isin(
            codes, (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP)
        )
        d &= ~line
        ok = ~line
        o = e = 0.0
        for a, b, va, vb in (
            (d[:, 1:, :], d[:, :-1, :], ok[:, 1:, :], ok[:, :-1, :]),
            (d[:, :, 1:], d[:, :, :-1], ok[:, :, 1:], ok[:, :, :-1]),
        ):
            pairs = va & vb
            o += float((a & b & pairs).sum())
            p = d[ok].mean() if ok.any() else 0.0
            e += float(pairs.sum()) * p * p
        obs, exp = obs + o, exp + e
        if e > 0 and (o - e) / np.sqrt(e + 1.0) > Z_WARN:
            bad.append(name)
    z = (obs - exp) / np.sqrt(exp + 1.0)
    if z <= Z_WARN:
        return []
    return [
        f"spatial-clustering check failed for defects.short_rate / open_rate / stuck_p_rate / "
        f"stuck_ap_rate: {obs:.0f} neighbouring pairs of defects where random placement gives "
        f"{exp:.1f} (z = {z:.1f}; in runs {_runs(bad) or 'pooled'}); the profile places defects "
        "at random (scratches, clusters or an edge ring?)"
    ]


def homogeneity_check(names, levels: list[Levels]) -> list[str]:
    if len(levels) < 3:
        return []
    med = np.array([np.median(lv.lp) for lv in levels])
    se = np.array([1.2533 * robust_sd(lv.lp) / np.sqrt(lv.lp.size) for lv in levels])
    centre = float(np.average(med, weights=1 / se**2))
    chi = (med - centre) / se
    stat = float(np.mean(chi**2))
    z = (stat - 1.0) / np.sqrt(2.0 / len(med))
    if z <= Z_WARN:
        return []
    worst = [names[i] for i in np.argsort(-np.abs(chi))[:3]]
    rms = 100 * float(np.sqrt(max(np.var(med) - np.mean(se**2), 0.0)))
    return [
        f"die-to-die check failed for resistance.r_p_median: the dies' medians differ by "
        f"{rms:.2g} % rms beyond sampling (chi-square per die {stat:.1f}; largest in runs "
        f"{_runs(worst)}); the profile has one median for every die"
    ]


def drift_check(names, runs: list[CharRun], shifts: list | None = None) -> list[str]:
    """Per-array AP medians against the order the arrays were measured in, after the fitted
    ``[drift]`` (``shifts``: per run the fitted ln R_AP change of each array, or None)."""
    shifts = shifts or [None] * len(runs)
    bad, worst = [], 0.0
    for name, run, shift in zip(names, runs, shifts, strict=True):
        c = run.char
        good = c.codes == DefectCode.GOOD
        done = [int(a) for a in c.arrays_done]
        order = np.array([done.index(int(a)) for a in c.arrays])  # measurement order
        med, se = [], []
        for a in range(c.codes.shape[0]):
            x = -np.log(c.g_ap[a][good[a]])
            if x.size < 20:
                med.append(np.nan), se.append(np.nan)
                continue
            med.append(float(np.median(x)) - (0.0 if shift is None else float(shift[a])))
            se.append(1.2533 * robust_sd(x) / np.sqrt(x.size))
        med, se = np.array(med), np.array(se)
        ok = np.isfinite(med)
        if ok.sum() < 6:
            continue
        t = order[: med.size][ok].astype(float)
        y, w = med[ok], 1 / se[ok] ** 2
        slope, factor = _wls(t, y, w)
        z_trend = abs(slope[0]) / np.sqrt(slope[1] / factor)
        z_scatter = (factor - 1.0) / np.sqrt(2.0 / max(t.size - 2, 1))
        if max(z_trend, z_scatter) > Z_WARN:
            bad.append(name)
            worst = max(worst, float(np.ptp(y)))
    if not bad:
        return []
    fitted = any(s is not None for s in shifts)
    return [
        f"array-to-array check failed for resistance.r_ap_median: the arrays' AP medians differ "
        f"beyond sampling{' after the fitted [drift]' if fitted else ''} (by up to "
        f"{100 * worst:.2g} %, with or without a trend in the order they were measured) in "
        f"runs {_runs(bad)}; the profile has one median for the whole die"
        + ("" if fitted else " and no drift")
        + " (temperature drift, or a gradient across the die?)"
    ]


def noise_tail_check(names, runs: list[CharRun], expected: float = 0.0) -> list[str]:
    """Reads far out against Gaussian noise plus ``expected`` (the share of such reads the
    fitted ``[telegraph]`` makes): the excess must stay below TAIL_SHARE or TAIL_COUNT plus
    five Poisson sigmas of the expected count."""
    bad, share = [], 0.0
    for name, run in zip(names, runs, strict=True):
        g = run.raw_after_p()
        good = run.char.codes == DefectCode.GOOD
        with np.errstate(divide="ignore", invalid="ignore"):
            ln = np.log(np.where(g > 0, g, np.nan)).reshape(-1, *g.shape[2:])
        if ln.shape[0] < 2:
            continue
        n = ln.shape[0]
        with np.errstate(invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            r = (ln - np.nanmean(ln, axis=0, keepdims=True))[:, good] * np.sqrt(n / (n - 1))
        r = r[np.isfinite(r)]
        jumps = np.abs(r) > TAIL_SIGMAS * max(robust_sd(r), 1e-5)
        want = expected * r.size
        excess = float(jumps.sum()) - want
        out = excess / max(r.size, 1)
        if out > TAIL_SHARE and excess >= TAIL_COUNT + 5.0 * np.sqrt(want):
            bad.append(name)
            share = max(share, out)
    if not bad:
        return []
    return [
        f"read-noise check failed for read.noise_rel / [telegraph]: up to {100 * share:.2f} % "
        f"of repeated reads of GOOD devices jump by more than {TAIL_SIGMAS:g} robust sigmas (telegraph "
        f"noise, failed or half-way writes?) in runs {_runs(bad)}"
        + (
            " beyond what the fitted [telegraph] makes"
            if expected
            else "; the profile's read noise is Gaussian"
        )
    ]


def write_check(names, runs: list[CharRun], floor: float) -> list[str]:
    rates = [
        (n, float(r.char.model.get("write_failure_rate", 0.0)))
        for n, r in zip(names, runs, strict=True)
    ]
    bad = [n for n, e in rates if e > max(10 * floor, 3e-3)]
    if not bad:
        return []
    top = max(e for _, e in rates)
    return [
        f"writes check failed for switching.write_error_floor / vc_to_p / vc_to_ap: verified "
        f"writes left good devices unswitched in up to {100 * top:.2g} % of cycles in runs "
        f"{_runs(bad)}, against the profile's floor of {floor:g}: fit a switching run of these "
        "dies"
    ]


def _wls(t: np.ndarray, y: np.ndarray, w: np.ndarray):
    """Weighted least-squares slope (value, variance) of ``y`` on ``t``, and the residual
    variance factor (the slope's variance is scaled by it when the scatter exceeds the
    stated errors)."""
    tm = (w * t).sum() / w.sum()
    ym = (w * y).sum() / w.sum()
    sxx = (w * (t - tm) ** 2).sum()
    slope = (w * (t - tm) * (y - ym)).sum() / sxx
    resid = y - ym - slope * (t - tm)
    factor = max(float((w * resid**2).sum() / max(t.size - 2, 1)), 1.0)
    return (float(slope), float(factor / sxx)), factor
