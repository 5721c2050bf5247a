"""The P and AP level distributions of a die, fitted to the devices that switched cleanly.

Each state's ``ln G`` is centred per array where the arrays differ significantly
(:func:`centres`); what is left is a Gaussian, or, when the data asks for it (two device
sizes, a skewed law), a mixture of up to ``MAX_COMPONENTS`` Gaussians chosen by BIC
(:func:`fit_level_mixture`). A device that does not switch is scored against these
distributions with its own read noise added (:func:`level_loglik`). Used by
:mod:`mtj_hil.protocols.defects.classifier`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.defects.contrast import deconvolve
from mtj_hil.protocols.defects.evidence import robust_stats
from mtj_hil.protocols.defects.rowwise import median, nanmedian, row_sum

PER_ARRAY_MIN = 50
"""An array needs this many clean switchers for its own P/AP centres."""
MAX_COMPONENTS = 3
"""Largest number of populations a level distribution is fitted with."""
MIN_MIXTURE_DEVICES = 200
"""Fewer clean switchers than this and the levels stay one Gaussian."""
MIN_WEIGHT = 0.02
"""A mixture component below this weight is not kept (too few devices to be a population)."""


@dataclass
class LevelMixture:
    """One state's level distribution about its (per-array) centre: weights, offsets of the
    component means from the centre and their spreads (ln G, read noise removed)."""

    weights: np.ndarray
    means: np.ndarray
    sigmas: np.ndarray

    @property
    def components(self) -> int:
        return int(self.weights.size)

    def as_model(self) -> dict:
        return {
            "weights": self.weights.tolist(),
            "means": self.means.tolist(),
            "sigmas": self.sigmas.tolist(),
        }


@dataclass(frozen=True)
class LevelStats:
    """What :func:`centres` measured on the way: the die-wide median ``die`` of the clean
    devices' levels, and the median and robust sigma (unfloored) of their residuals about
    the returned centres (the residuals' finite values), for callers that need them again;
    ``all_finite``: every residual was finite (then the median is also ``np.median``'s of
    them all)."""

    die: float
    resid_median: float
    resid_sigma: float
    all_finite: bool


def centres(x: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, float, bool, LevelStats]:
    """Per-array centres of ``x`` over ``clean`` devices ``(n_arr, n)``, the pooled robust
    sigma, whether the arrays differ (else the die-wide median is every centre), and the
    statistics measured on the way (:class:`LevelStats`)."""
    die = median(x[clean])
    n_arr = x.shape[0]
    xm = np.where(clean, x, np.nan)
    counts = clean.sum(axis=1)
    with np.errstate(invalid="ignore"):
        med = nanmedian(xm, axis=1) if n_arr > 1 else np.array([die])
    med = np.where(counts >= PER_ARRAY_MIN, med, die)
    resid = (x - med[:, None])[clean]
    centre, sigma = robust_stats(resid)
    differ = False
    if n_arr > 1 and (counts >= PER_ARRAY_MIN).sum() >= 2:
        use = counts >= PER_ARRAY_MIN
        se = 1.2533 * sigma / np.sqrt(counts[use])
        chi = float(np.mean(((med[use] - die) / np.maximum(se, 1e-12)) ** 2))
        differ = chi > 4.0
    if not differ:
        med = np.full(n_arr, die)
        resid = x[clean] - die
        centre, sigma = robust_stats(resid)
    stats = LevelStats(die, centre, sigma, bool(np.isfinite(resid).all()))
    return med, max(float(sigma), 1e-3), differ, stats


def fit_level_mixture(
    resid: np.ndarray, sigma: float, noise: float, quantised: bool = False
) -> LevelMixture:
    """The level distribution of one state from the clean devices' residuals about their
    centres: one Gaussian of robust spread ``sigma`` unless a mixture of 2 or 3 fits better
    by BIC (each component's spread has the read noise ``noise`` removed). Quantised
    readings (a coarse converter) stay one Gaussian: their codes would pass for populations."""
    return fit_level_mixtures([(resid, sigma)], noise, quantised)[0]


def fit_level_mixtures(
    states: list[tuple], noise: float, quantised: bool = False
) -> list[LevelMixture]:
    """:func:`fit_level_mixture` of several states ``(resid, sigma)`` at once: the EM fits
    of every state and number of components run side by side (:func:`_em_batch`). A state
    may carry a third element, the median of its finite residuals if already known."""
    out: list[LevelMixture] = []
    todo = []  # (state index, binned x, counts, sigma, noise-free single, its BIC)
    for resid, sigma, *known in states:
        r = np.asarray(resid, float)
        r = r[np.isfinite(r)]
        single = LevelMixture(np.ones(1), np.zeros(1), np.array([deconvolve(sigma, noise)]))
        out.append(single)
        if r.size < MIN_MIXTURE_DEVICES or quantised:
            continue
        # Trim gross outliers (a handful of odd devices must not become a population).
        centre = known[0] if known else median(r)
        keep = np.abs(r - centre) < 8 * max(sigma, 1e-3)
        r = r[keep]
        # EM on a fine histogram (bins of sigma / 25): the same fit as on the devices, far
        # faster.
        width = max(sigma, 1e-3) / 25.0
        edges = np.arange(r.min(), r.max() + width, width)
        counts, edges = np.histogram(r, bins=max(edges.size, 2))
        centres_ = 0.5 * (edges[1:] + edges[:-1])
        use = counts > 0
        x, c = centres_[use], counts[use].astype(float)
        one = (np.ones(1), np.array([median(r)]), np.array([max(sigma, 1e-3)]))
        todo.append((len(out) - 1, x, c, sigma, _bic(x, c, *one, 2)))
    problems = [(x, c, k, sigma) for _, x, c, sigma, _ in todo for k in KS]
    fits = iter(_em_batch(problems))
    for i, x, c, _, best_bic in todo:
        for k in KS:
            w, m, s = next(fits)
            if w.min() < MIN_WEIGHT:
                continue
            bic = _bic(x, c, w, m, s, 3 * k - 1)
            if bic < best_bic - 10.0:  # a clear gain, not a marginal one
                best_bic = bic
                out[i] = LevelMixture(w, m, np.array([deconvolve(v, noise) for v in s]))
    return out


KS = tuple(range(2, MAX_COMPONENTS + 1))
"""Numbers of components a mixture is tried with."""


def level_loglik(x: np.ndarray, centre: np.ndarray, mix: LevelMixture, noise: float) -> np.ndarray:
    """Log density of levels ``x`` ``(n_arr, n)`` under one state's distribution (centres
    ``(n_arr,)``), with ``noise`` (the device's level read noise) added to every component."""
    z = x - centre[:, None]
    out = None
    for w, m, s in zip(mix.weights, mix.means, mix.sigmas, strict=True):
        tot = float(np.hypot(s, noise))
        ll = np.log(w) - 0.5 * ((z - m) / tot) ** 2 - np.log(tot) - 0.9189385332046727
        out = ll if out is None else np.logaddexp(out, ll)
    return out


def total_sigma(mix: LevelMixture, noise: float) -> float:
    """The whole distribution's standard deviation with read noise (for summaries)."""
    mean = float((mix.weights * mix.means).sum())
    var = float((mix.weights * (mix.sigmas**2 + (mix.means - mean) ** 2)).sum())
    return float(np.sqrt(var + noise * noise))


def _em(x: np.ndarray, c: np.ndarray, k: int, sigma: float, iterations: int = 80):
    """A k-component 1-D Gaussian mixture by EM on binned values ``x`` with counts ``c``,
    started on quantiles."""
    return _em_batch([(x, c, k, sigma)], iterations)[0]


def _em_batch(problems: list[tuple[np.ndarray, np.ndarray, int, float]], iterations: int = 80):
    """:func:`_em` of several problems ``(x, c, k, sigma)`` side by side, ``(B, K, bins)``:
    shorter histograms padded with empty bins, missing components with weight 0 (both add
    exact zeros to every sum, so each result is bit for bit its own fit). Returns ``(w, m,
    s)`` per problem.

    Bins run along the last axis (each numpy step loops over them, not over the two or three
    components); a sum over bins is the running sum's last value, the bins added one after
    another as the plain fit's sum over its bins axis (with two or more components) does."""
    if not problems:
        return []
    n_b, n_k = len(problems), max(p[2] for p in problems)
    size = max(p[0].size for p in problems)
    x = np.zeros((n_b, 1, size))
    c = np.zeros((n_b, size))
    w, m, s = np.zeros((n_b, n_k)), np.zeros((n_b, n_k)), np.ones((n_b, n_k))
    alive = np.zeros((n_b, n_k), bool)
    floor = np.empty((n_b, 1))
    for i, (xi, ci, k, sigma) in enumerate(problems):
        x[i, 0, : xi.size], c[i, : xi.size] = xi, ci
        cum = np.cumsum(ci) / ci.sum()
        m[i, :k] = np.interp((np.arange(k) + 0.5) / k, cum, xi)
        s[i, :k] = max(sigma, 1e-3)
        w[i, :k] = 1.0 / k
        alive[i, :k] = True
        floor[i] = 0.2 * max(sigma, 1e-3)
    z, t, acc = (np.empty((n_b, n_k, size)) for _ in range(3))

    def over_bins(a: np.ndarray) -> np.ndarray:
        return np.cumsum(a, axis=-1, out=acc)[..., -1]

    with np.errstate(divide="ignore", invalid="ignore"):
        for _ in range(iterations):
            # ll = log w - 0.5 ((x - m) / s)^2 - log s, less its maximum over components
            np.subtract(x, m[:, :, None], out=z)
            z /= s[:, :, None]
            np.square(z, out=z)
            z *= 0.5
            np.subtract(np.log(w)[:, :, None], z, out=z)
            z -= np.log(s)[:, :, None]
            z -= _over_components(z, np.maximum)[:, None, :]
            p = np.exp(z, out=z)
            p *= (c / _over_components(p, np.add))[:, None, :]
            n = np.where(alive, over_bins(p) + 1e-12, 0.0)
            w = n / row_sum(n)[:, None]
            m = np.where(alive, over_bins(np.multiply(p, x, out=t)) / n, 0.0)
            np.subtract(x, m[:, :, None], out=t)
            np.square(t, out=t)
            t *= p
            s = np.sqrt(over_bins(t) / n)
            s = np.where(alive, np.maximum(s, floor), 1.0)
    return [(w[i, :k], m[i, :k], s[i, :k]) for i, (_, _, k, _) in enumerate(problems)]


def _over_components(a: np.ndarray, op) -> np.ndarray:
    """``op`` folded over the components (axis 1 of ``(B, K, bins)``) in order: their
    maximum (:func:`row_max`) or sum (:func:`row_sum`) per bin, ``(B, bins)``."""
    out = a[:, 0].copy()
    for k in range(1, a.shape[1]):
        op(out, a[:, k], out=out)
    return out


def _bic(x: np.ndarray, c: np.ndarray, w, m, s, params: int) -> float:
    ll = np.log(w) - 0.5 * ((x[:, None] - m) / s) ** 2 - np.log(s) - 0.9189385332046727
    top = ll.max(axis=1)
    total = float((c * (top + np.log(np.exp(ll - top[:, None]).sum(axis=1)))).sum())
    return -2.0 * total + params * np.log(c.sum())
