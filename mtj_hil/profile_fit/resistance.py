"""Resistance and bias dependence fitted from characterisation runs.

- **read noise** (``read.noise_rel``): a robust spread (1.4826 MAD) of repeated reads of the
  same state of GOOD devices, between the reads of one cycle where there are several (pure
  read noise), else between cycles; a failed write or a telegraph jump is an outlier, not
  noise.
- **zero bias**: the stored conductances are read at the run's read voltage ``V1``. With a
  second read voltage ``V2`` each GOOD device's curvature follows from its own bias
  signature, ``k = (e^b - 1) / (V2^2 - e^b V1^2)`` for ``G(V) = G0 (1 + k V^2)``, and its
  zero-bias conductance is ``G(V1) / (1 + k V1^2)``; without one, the base profile's
  ``[bias]`` law is used (and said so), or, with an ohmic base, the values stay at the read
  voltage (and said so). Never mixed silently.
- **[bias]**: ``p_curvature`` = median P over median AP curvature, ``v_half`` from the
  median AP curvature and the zero-bias TMR (the profile's law), ``v_half_sigma`` half the
  device spread of ln k_AP with its noise removed.
- **populations**: ln R_P of GOOD devices is one lognormal, a mixture of 2-3 populations
  with one spread (device sizes), or a skew-normal, whichever has the lowest BIC; a
  population needs 5 % of the devices and to lie 2 sigmas from the others.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.stats import skewnorm

from mtj_hil.profile_fit.runs import CharRun
from mtj_hil.protocols.defects.codes import DefectCode

MIN_POPULATION = 0.05
"""A mixture component must hold this share of the devices to count as a population."""
MIN_SEPARATION = 2.0
"""Populations must lie this many (common) sigmas apart; closer components only describe the
shape of one law (a skew), which the skew-normal is for."""
BIC_MARGIN = 20.0
"""A richer resistance law must lower the BIC by this much to be chosen."""


def robust_sd(x: np.ndarray) -> float:
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    return 1.4826 * float(np.median(np.abs(x - np.median(x)))) if x.size else float("nan")


def read_noise(run: CharRun) -> tuple[float | None, int, str]:
    """Relative read noise per reading (robust), readings per stored mean, and how."""
    g = run.raw_after_p()  # cycles, reads, arrays, rows, cols
    cycles, reads = g.shape[:2]
    good = run.char.codes == DefectCode.GOOD
    with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN devices (opens) drop out
        ln = np.log(np.where(g > 0, g, np.nan))
        within = ln - np.nanmean(ln, axis=1, keepdims=True)
        between = ln[:, 0] - np.nanmean(ln[:, 0], axis=0, keepdims=True)
    if reads >= 2:
        resid = within[:, :, good]
        sigma = robust_sd(resid) * np.sqrt(reads / (reads - 1))
        how = f"robust spread between the {reads} reads of each cycle"
    elif cycles >= 2:
        resid = between[:, good]
        sigma = robust_sd(resid) * np.sqrt(cycles / (cycles - 1))
        how = f"robust spread between {cycles} cycles (one read each)"
    else:
        return None, 1, "one read of one cycle: not measurable"
    return float(sigma), cycles * reads, how


@dataclass
class Levels:
    """ln R (ohm) of one run's GOOD devices at zero bias (where it can be known), the
    devices' curvatures (1/V^2) where measured, and how the values were obtained."""

    lp: np.ndarray
    lap: np.ndarray
    k_p: np.ndarray | None
    k_ap: np.ndarray | None
    how: str
    zero_bias: bool

    def core(self, sigmas: float = 4.5) -> Levels:
        """The devices whose TMR lies within ``sigmas`` robust sigmas of the run's median:
        a pinhole leak or a half-way switch moves a device's levels off the resistance law
        (the TMR-tail check reports them); they are left out of the law's fit."""
        t = self.lap - self.lp
        keep = np.abs(t - np.median(t)) <= sigmas * max(robust_sd(t), 1e-4)
        pick = lambda a: None if a is None else a[keep]  # noqa: E731
        return Levels(
            self.lp[keep], self.lap[keep], pick(self.k_p), pick(self.k_ap), self.how, self.zero_bias
        )


def curvature(b: np.ndarray, v1: float, v2: float) -> np.ndarray:
    """Curvature ``k`` (1/V^2) of ``G(V) = G0 (1 + k V^2)`` from a bias signature ``b``."""
    e = np.exp(b)
    return (e - 1.0) / (v2 * v2 - e * v1 * v1)


def run_levels(run: CharRun, base_bias, base_tmr: float) -> Levels:
    """The GOOD devices' zero-bias ln R of one run (see the module docstring)."""
    c = run.char
    good = (c.codes == DefectCode.GOOD) & np.isfinite(c.g_p) & np.isfinite(c.g_ap)
    good &= (c.g_p > 0) & (c.g_ap > 0)
    gp, gap = c.g_p[good], c.g_ap[good]
    v1 = run.read_voltage
    bp = bap = np.empty(0)
    if run.bias_voltage and c.bias_p is not None and c.bias_ap is not None:
        bp, bap = c.bias_p[good], c.bias_ap[good]
    if np.isfinite(bp).any() and np.isfinite(bap).any():  # (none finite: as if not measured)
        k_p = curvature(np.nan_to_num(bp, nan=np.nanmedian(bp)), v1, run.bias_voltage)
        k_ap = curvature(np.nan_to_num(bap, nan=np.nanmedian(bap)), v1, run.bias_voltage)
        gp0, gap0 = gp / (1 + k_p * v1 * v1), gap / (1 + k_ap * v1 * v1)
        how = (
            f"zero bias through each device's own bias signature ({v1:g} / {run.bias_voltage:g} V)"
        )
        return Levels(-np.log(gp0), -np.log(gap0), k_p, k_ap, how, True)
    if base_bias is not None:
        k_ap = float(base_bias.ap_curvature(base_tmr, base_bias.v_half))
        k_p = base_bias.p_curvature * k_ap
        gp0, gap0 = gp / (1 + k_p * v1 * v1), gap / (1 + k_ap * v1 * v1)
        how = f"zero bias through the base profile's [bias] law (read at {v1:g} V only)"
        return Levels(-np.log(gp0), -np.log(gap0), None, None, how, True)
    how = f"at the read voltage {v1:g} V (one read voltage, ohmic base: not zero bias)"
    return Levels(-np.log(gp), -np.log(gap), None, None, how, False)


def fit_bias(levels: list[Levels], tmr0: float, noise_ln_k: float) -> dict[str, tuple]:
    """``[bias]`` values (value, sd) from the runs that measured curvatures."""
    per = [(lv.k_p, lv.k_ap) for lv in levels if lv.k_p is not None]
    kp = np.concatenate([p for p, _ in per])
    kap = np.concatenate([a for _, a in per])
    ok = (kap > 0) & np.isfinite(kap) & np.isfinite(kp)
    kp, kap = kp[ok], kap[ok]

    def values(p: np.ndarray, a: np.ndarray) -> tuple[float, float, float]:
        r = float(np.median(p) / np.median(a))
        denom = float(np.median(a)) * ((1 + 0.5 * tmr0) - r * (1 + tmr0))
        v_half = float(np.sqrt(0.5 * tmr0 / denom)) if denom > 0 else float("nan")
        spread = np.sqrt(max(robust_sd(np.log(a)) ** 2 - noise_ln_k**2, 0.0)) / 2.0
        return v_half, float(spread), r

    whole = values(kp, kap)
    dies = [values(p[(a > 0)], a[(a > 0)]) for p, a in per if (a > 0).sum() > 10]
    out = {}
    for i, key in enumerate(("v_half", "v_half_sigma", "p_curvature")):
        sd = (
            float(np.std([d[i] for d in dies], ddof=1) / np.sqrt(len(dies)))
            if len(dies) > 1
            else None
        )
        out[key] = (whole[i], sd)
    return out


@dataclass
class ResistanceLaw:
    """The fitted law of ln R_P about its centre: "lognormal", "populations" or "skew"."""

    kind: str
    centre: float
    sigma: float
    weights: np.ndarray
    offsets: np.ndarray
    skew: float = 0.0


def fit_law(x: np.ndarray) -> ResistanceLaw:
    """One lognormal, a tied-spread mixture of 2-3 populations, or a skew-normal for ln R
    ``x`` (noise included), by BIC on a fine histogram."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    med, sd = float(np.median(x)), max(robust_sd(x), 1e-4)
    keep = np.abs(x - med) < 8 * sd
    x = x[keep]
    edges = np.arange(x.min(), x.max() + sd / 20, sd / 20)
    counts, edges = np.histogram(x, bins=max(edges.size, 3))
    mid = 0.5 * (edges[1:] + edges[:-1])
    use = counts > 0
    b, c = mid[use], counts[use].astype(float)
    n = c.sum()
    mean, std = (
        float((c * b).sum() / n),
        float(np.sqrt((c * (b - (c * b).sum() / n) ** 2).sum() / n)),
    )
    best = ResistanceLaw("lognormal", med, sd, np.ones(1), np.zeros(1))
    best_bic = -2 * float((c * _norm_ll(b, mean, std)).sum()) + 2 * np.log(n)
    for k in (2, 3):
        w, m, s = _tied_em(b, c, k, sd)
        if w.min() < MIN_POPULATION or np.diff(np.sort(m)).min() < MIN_SEPARATION * s:
            continue  # too small, or not apart: the shape of one law, not populations
        ll = np.logaddexp.reduce(
            [np.log(wi) + _norm_ll(b, mi, s) for wi, mi in zip(w, m, strict=True)]
        )
        bic = -2 * float((c * ll).sum()) + (2 * k) * np.log(n)
        if bic < best_bic - BIC_MARGIN:
            heavy = int(np.argmax(w))
            best, best_bic = ResistanceLaw("populations", float(m[heavy]), s, w, m - m[heavy]), bic
    a, loc, scale = _skew_fit(b, c, mean, std)
    ll = skewnorm.logpdf(b, a, loc, scale)
    bic = -2 * float((c * ll).sum()) + 3 * np.log(n)
    if bic < best_bic - BIC_MARGIN:
        best = ResistanceLaw("skew", mean, std, np.ones(1), np.zeros(1), float(a))
    return best


def fit_law_sigma(x: np.ndarray, law: ResistanceLaw) -> float:
    """The common spread of ``x`` (e.g. ln R_AP) under a population law with as many
    populations as ``law`` (noise included)."""
    x = np.asarray(x, float)
    x = x[np.isfinite(x)]
    sd = max(robust_sd(x), 1e-4)
    x = x[np.abs(x - np.median(x)) < 8 * sd]
    counts, edges = np.histogram(x, bins=max(int(np.ptp(x) / (sd / 20)), 3))
    mid = 0.5 * (edges[1:] + edges[:-1])
    use = counts > 0
    _, _, s = _tied_em(mid[use], counts[use].astype(float), law.weights.size, sd)
    return float(s)


def _norm_ll(x, m, s):
    return -0.5 * ((x - m) / s) ** 2 - np.log(s) - 0.9189385332046727


def _tied_em(b, c, k, sd, iterations: int = 100):
    cum = np.cumsum(c) / c.sum()
    m = np.interp((np.arange(k) + 0.5) / k, cum, b)
    w, s = np.full(k, 1.0 / k), sd
    for _ in range(iterations):
        ll = np.log(w) + _norm_ll(b[:, None], m, s)
        ll -= ll.max(axis=1, keepdims=True)
        p = np.exp(ll)
        p *= (c / p.sum(axis=1))[:, None]
        nk = p.sum(axis=0) + 1e-12
        w, m = nk / nk.sum(), (p * b[:, None]).sum(axis=0) / nk
        s = max(float(np.sqrt((p * (b[:, None] - m) ** 2).sum() / c.sum())), 0.1 * sd)
    return w, m, s


def _skew_fit(b, c, mean, std):
    """Skew-normal with the data's mean and standard deviation, shape by maximum likelihood."""

    def params(a: float) -> tuple[float, float]:
        d = a / np.sqrt(1 + a * a)
        scale = std / np.sqrt(1 - 2 * d * d / np.pi)
        return mean - scale * d * np.sqrt(2 / np.pi), scale

    def nll(a: float) -> float:
        loc, scale = params(a)
        return -float((c * skewnorm.logpdf(b, a, loc, scale)).sum())

    a = float(minimize_scalar(nll, bounds=(-20, 20), method="bounded").x)
    return (a, *params(a))
