"""Class likelihoods of the non-switching evidence, and the EM fit of the defect classes.

Per device the classifier has the log-likelihood of its switching evidence as a good
device and as a device that does not switch, and of its level under the P and AP level
distributions. This module adds the two defect populations fitted to the die itself:

- **shorts**: a Gaussian in ``ln G`` above the P level (median and spread by EM);
- **resistive opens**: devices that do not switch and conduct partially; their level is
  spread over decades (a cracked via conducts anything from nanosiemens up to about the
  junction's own level, or past it), so their density is uniform in ``ln G`` from the hard
  open level up to an upper edge fitted to the die: the P median, or higher where the
  die's devices that do not switch show opens above it (profile likelihood over the edge,
  kept only if it passes BIC). A density capped at the P median would give an open above
  it no open likelihood at all: it became a short (or stuck-P) called with confidence 1.

The class weights are fitted by EM over all devices with the P/AP components held fixed;
each defect population is kept only if it raises the likelihood by more than its
parameters cost (BIC), else its weight is set to ~0, so a die without it does not grow
one out of another class's tail.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from mtj_hil.protocols.defects.codes import DEFECT_CLASSES
from mtj_hil.protocols.defects.contrast import lognorm
from mtj_hil.protocols.defects.evidence import robust_sigma
from mtj_hil.protocols.defects.rowwise import median, row_max, row_sum

N_CLASSES = len(DEFECT_CLASSES)
GOOD, SHORT, OPEN, STUCK_P, STUCK_AP = range(5)
ABSENT = 1e-9
"""Weight of a defect population the die is found not to have."""


@dataclass
class Evidence1D:
    """Per-device log-likelihood pieces (flat device shape ``S``).

    Attributes:
        good: switching evidence as a good device (with the P level).
        stuck: switching evidence as a device that does not switch.
        lv_p, lv_ap: level under the P and AP distributions.
        x: the level ``ln G``.
    """

    good: np.ndarray
    stuck: np.ndarray
    lv_p: np.ndarray
    lv_ap: np.ndarray
    x: np.ndarray

    def take(self, mask: np.ndarray) -> Evidence1D:
        return Evidence1D(
            *(a[mask] for a in (self.good, self.stuck, self.lv_p, self.lv_ap, self.x))
        )


@dataclass
class DefectPopulations:
    """The fitted defect populations and class weights (GOOD, SHORT, OPEN, STUCK_P, STUCK_AP)."""

    mu_s: float
    sig_s: float
    open_lo: float
    open_hi: float
    weights: np.ndarray
    shorts_found: bool
    opens_found: bool

    def class_ll(self, e: Evidence1D) -> np.ndarray:
        """Log prior x likelihood per class, ``(*S, 5)``."""
        lv_s = lognorm(np.minimum(e.x, self.mu_s), self.mu_s, self.sig_s)
        width = max(self.open_hi - self.open_lo, 1e-3)
        inside = (e.x >= self.open_lo) & (e.x <= self.open_hi)
        lv_o = np.where(inside, -np.log(width), -np.inf)
        with np.errstate(divide="ignore"):
            lw = np.log(self.weights)
        out = np.stack(
            [
                lw[GOOD] + e.good,
                lw[SHORT] + e.stuck + lv_s,
                lw[OPEN] + e.stuck + lv_o,
                lw[STUCK_P] + e.stuck + e.lv_p,
                lw[STUCK_AP] + e.stuck + e.lv_ap,
            ],
            axis=-1,
        )
        return np.where(np.isfinite(e.x)[..., None], out, 0.0)

    def as_model(self) -> dict[str, Any]:
        return {
            "short_median_g": float(np.exp(self.mu_s)),
            "short_sigma_ln": float(self.sig_s),
            "shorts_found": self.shorts_found,
            "resistive_open_range_g": [float(np.exp(self.open_lo)), float(np.exp(self.open_hi))],
            "resistive_opens_found": self.opens_found,
            "class_weights": {
                c.name: float(w) for c, w in zip(DEFECT_CLASSES, self.weights, strict=True)
            },
        }


def fit_populations(
    e: Evidence1D,
    switched: np.ndarray,
    mu_p: float,
    tot_p: float,
    open_lo: float,
    iterations: int,
    extra: np.ndarray | None = None,
    start: DefectPopulations | None = None,
) -> DefectPopulations:
    """Fit the short distribution and the class weights by EM over the devices in ``e``
    (devices not hard-open with valid readings); ``switched`` marks devices the switching
    evidence alone calls good. Shorts sit at least 2.5 P sigmas above the P median; the
    resistive-open density spans ``open_lo`` .. ``mu_p``, or up to a higher edge
    (:func:`_fit_open_edge`). ``extra`` (``(n, 5)``) is more evidence per class (the bias
    signature) that the fit takes into account; ``start`` a previous fit to start from
    (its short population, weights and open edge, which may move further up)."""
    floor_s = mu_p + 2.5 * tot_p
    cand = e.x[~switched & (e.x > mu_p + 4 * tot_p)]
    if cand.size >= 3:
        mu_s, sig_s = median(cand), max(robust_sigma(cand), 0.05)
    else:
        mu_s, sig_s = mu_p + max(6 * tot_p, 0.5), 0.25
    pops = DefectPopulations(
        mu_s, sig_s, open_lo, mu_p, np.array([0.99, 2e-3, 1e-4, 2e-3, 2e-3]), True, True
    )
    if start is not None:
        pops.mu_s, pops.sig_s, pops.open_hi = start.mu_s, start.sig_s, start.open_hi
        pops.weights = np.maximum(start.weights, 1e-6) / np.maximum(start.weights, 1e-6).sum()
    fixed = _FixedParts(e, pops, extra)
    _em(pops, fixed, iterations, floor_s)
    n = max(int(e.x.size), 2)
    pops, fixed = _fit_open_edge(e, switched, pops, fixed, extra, iterations, floor_s, tot_p)
    pops.shorts_found = _earns_place(pops, fixed, SHORT, 1.5 * np.log(n))
    pops.opens_found = _earns_place(pops, fixed, OPEN, 1.0 * np.log(n))
    return pops


EDGE_STEP = 0.25
"""Candidate upper edges of the resistive-open density are at least this many P sigmas
apart (taken from the top down, so the highest level of each group of devices is one)."""
SHORT_SIDE = 2.5
"""The open edge stays this many short sigmas below the short median: within it a level is
a short's as much as an open's, and a uniform open density would only absorb the short
population's lower tail (the mirror of the shorts' floor 2.5 P sigmas above the P median)."""


def _fit_open_edge(
    e: Evidence1D,
    switched: np.ndarray,
    pops: DefectPopulations,
    fixed: _FixedParts,
    extra: np.ndarray | None,
    iterations: int,
    floor_s: float,
    tot_p: float,
) -> tuple[DefectPopulations, _FixedParts]:
    """The upper edge of the resistive-open density (``ln G``), by profile likelihood.

    The maximum-likelihood edge of a uniform density lies on one of its members, so the
    candidates are the levels of the devices that do not switch between the edge of
    ``pops`` (the P median, or a previous fit's edge) and the short median (thinned to
    :data:`EDGE_STEP` P sigmas apart, ``tot_p``, and only those that raise the likelihood
    with everything else as in ``pops``; none where ``pops`` has no resistive opens to
    speak of, i.e. they fail its BIC test); for each, the populations and weights are
    refitted by EM from ``pops``, and the edge is kept only if it stays :data:`SHORT_SIDE`
    sigmas below that fit's short median (opens above P claimed as shorts pull the short
    median down). The best edge replaces that of ``pops`` only if it raises the log
    likelihood of the devices by more than its parameter costs (BIC, ``0.5 ln n``): a die
    without opens above P keeps ``pops``. Returns the populations and their fixed parts."""
    n = max(int(e.x.size), 2)
    if _class_gain(pops, fixed, OPEN) <= 1.0 * np.log(n):
        return pops, fixed  # no resistive opens below the edge: none above it either
    with np.errstate(invalid="ignore"):
        above = ~switched & (e.x > pops.open_hi) & (e.x < pops.mu_s)
    kept: list[float] = []
    for v in np.unique(e.x[above])[::-1]:  # from the top down
        if not kept or kept[-1] - v >= EDGE_STEP * tot_p:
            kept.append(float(v))
    kept = [
        hi for hi, gain in zip(kept, fixed.open_edge_gains(pops, kept), strict=True) if gain > 0
    ]
    if not kept:
        return pops, fixed
    base = fixed.loglik(pops)
    best, best_ll = (pops, fixed), base
    for hi in kept:
        trial = replace(pops, open_hi=hi, weights=pops.weights.copy())
        parts = _FixedParts(e, trial, extra)
        _em(trial, parts, iterations, floor_s)
        if hi > trial.mu_s - SHORT_SIDE * trial.sig_s:
            continue  # (the shorts of a fit without the opens above P may sit lower, wider)
        ll = parts.loglik(trial)
        if ll > best_ll:
            best, best_ll = (trial, parts), ll
    if best_ll - base > 0.5 * np.log(n):
        return best
    return pops, fixed


def _em(pops: DefectPopulations, fixed: _FixedParts, iterations: int, floor_s: float) -> None:
    """``iterations`` EM steps of the class weights and the short population (in place)."""
    x = fixed.e.x  # the devices whose posteriors the parameters can move
    n_all = fixed.n_pinned + x.size
    for _ in range(iterations):
        resp = _softmax_classes(fixed.class_ll(pops))
        # every pinned device adds (1, 0, 0, 0, 0) (to 1e-34)
        total = np.cumsum(resp, axis=1)[:, -1] if resp.shape[1] else np.zeros(N_CLASSES)
        total[GOOD] += fixed.n_pinned
        pops.weights = np.maximum(total / max(n_all, 1), 1e-6)
        r = resp[SHORT]
        if r.sum() >= 2:
            pops.mu_s = max(float((r * x).sum() / r.sum()), floor_s)
            # The spread from the side away from P only: the lower tail of the shorts is
            # partly claimed by stuck-P (a fixed, overlapping component), which would make
            # the shorts look narrower than they are, and the calls near P too sure.
            up = r * (x >= pops.mu_s)
            var = float((up * (x - pops.mu_s) ** 2).sum() / max(up.sum(), 1e-12))
            if up.sum() < 1.0:
                var = float((r * (x - pops.mu_s) ** 2).sum() / r.sum())
            pops.sig_s = float(np.clip(np.sqrt(var), 0.03, 1.0))


PINNED_GAP = 80.0
"""A device whose GOOD log-likelihood exceeds every other class's by more than this (plus
the largest log ratio of class weights the fit can reach) is GOOD with a posterior of 1
less at most 4 e^-80 (1e-34) whatever the fit's parameters: it adds 1 to the GOOD weight
(exactly, in floating point) and less than 1e-34 to any other class, far below the
rounding of the sums, so the EM leaves it out."""
_LV_S_MAX = float(-np.log(0.03) - 0.9189385332046727)
"""Largest log density of the short level (its spread is at least 0.03)."""
_LW_RANGE = float(-np.log(1e-6)) + 0.1
"""Largest log ratio of two class weights in the fit (weights >= 1e-6, at most 1)."""


class _FixedParts:
    """What the EM's class log-likelihoods share between iterations, class-major ``(5, n)``
    (contiguous rows: the per-device reductions over the five classes run row by row). The
    sums are those of :meth:`DefectPopulations.class_ll` plus ``extra``, in the same order.

    Devices whose GOOD evidence beats every other class by :data:`PINNED_GAP` (most devices
    that switch) are set aside: their posterior is GOOD in every iteration (to 1e-34), so
    they add 1 to the GOOD weight and their GOOD term to the likelihood (``n_pinned``,
    ``pinned_good``)."""

    def __init__(self, e: Evidence1D, pops: DefectPopulations, extra: np.ndarray | None):
        width = max(pops.open_hi - pops.open_lo, 1e-3)
        inside = (e.x >= pops.open_lo) & (e.x <= pops.open_hi)
        lv_o = np.where(inside, -np.log(width), -np.inf)
        ex = None if extra is None else np.asarray(extra)
        with np.errstate(invalid="ignore"):
            rival = e.stuck + np.maximum.reduce(
                [e.lv_p, e.lv_ap, lv_o, np.full(e.x.shape, _LV_S_MAX)]
            )
            gap = e.good - rival
            if ex is not None:
                gap = gap + ex[:, GOOD] - ex[:, 1:].max(axis=1)
        pinned = np.isfinite(e.x) & (gap > PINNED_GAP + _LW_RANGE)
        active = ~pinned
        self.n_pinned = int(pinned.sum())
        self.pinned_good = e.good[pinned] if ex is None else (e.good[pinned], ex[pinned, GOOD])
        self.e = e.take(active)
        self.lv_o = lv_o[active]
        finite = np.isfinite(self.e.x)
        self.infinite = None if finite.all() else ~finite
        self.extra = None if ex is None else np.ascontiguousarray(ex[active].T)

    def class_ll(self, pops: DefectPopulations) -> np.ndarray:
        """``(pops.class_ll(e) + extra).T`` of the devices not pinned, for the current short
        population and weights."""
        e = self.e
        with np.errstate(divide="ignore"):
            lw = np.log(pops.weights)
        out = np.empty((N_CLASSES, e.x.size))
        np.add(lw[GOOD], e.good, out=out[GOOD])
        lv_s = lognorm(np.minimum(e.x, pops.mu_s), pops.mu_s, pops.sig_s)
        for k, lv in ((SHORT, lv_s), (OPEN, self.lv_o), (STUCK_P, e.lv_p), (STUCK_AP, e.lv_ap)):
            np.add(lw[k], e.stuck, out=out[k])
            out[k] += lv
        if self.infinite is not None:
            out[:, self.infinite] = 0.0
        if self.extra is not None:
            out += self.extra
        return out

    def open_edge_gains(self, pops: DefectPopulations, edges: list[float]) -> np.ndarray:
        """Change of the log likelihood of the devices not pinned if the open density's
        upper edge moved to each of ``edges`` (``ln G``), everything else as in ``pops``
        (a device pinned GOOD stays so: its open term is far below its GOOD one)."""
        ll = self.class_ll(pops)
        x = np.where(np.isfinite(self.e.x), self.e.x, -np.inf)
        with np.errstate(divide="ignore"):
            common = np.log(pops.weights[OPEN]) + self.e.stuck  # (class_ll's OPEN row less lv_o)
        if self.extra is not None:
            common = common + self.extra[OPEN]
        rest = np.delete(ll, OPEN, axis=0)
        others = rest[0].copy()
        for k in range(1, rest.shape[0]):
            np.logaddexp(others, rest[k], out=others)
        now = np.logaddexp(others, ll[OPEN])
        gains = np.empty(len(edges))
        for j, hi in enumerate(edges):
            inside = (x >= pops.open_lo) & (x <= hi)
            lv = np.where(inside, -np.log(max(hi - pops.open_lo, 1e-3)), -np.inf)
            new = np.logaddexp(others, common + lv)
            if self.infinite is not None:
                new[self.infinite] = now[self.infinite]
            gains[j] = float((new - now).sum())
        return gains

    def loglik(self, pops: DefectPopulations) -> float:
        """Log likelihood of all the devices (pinned ones: their GOOD term, the others adding
        less than 1e-34 to it)."""
        total = _loglik(self.class_ll(pops))
        with np.errstate(divide="ignore"):
            lw = np.log(pops.weights[GOOD])
        if isinstance(self.pinned_good, tuple):
            good, more = self.pinned_good
            return total + float((lw + good + more).sum())
        return total + float((lw + self.pinned_good).sum())


def _softmax_classes(ll: np.ndarray) -> np.ndarray:
    """:func:`normalise` of class-major log-likelihoods ``(5, n)`` along the first axis (the
    same operations in the same order as along the last axis of ``(n, 5)``)."""
    top = ll[0].copy()
    for k in range(1, ll.shape[0]):
        np.maximum(top, ll[k], out=top)
    top = np.where(np.isfinite(top), top, 0.0)
    p = ll - top
    np.exp(p, out=p)
    total = p[0].copy()
    for k in range(1, ll.shape[0]):
        total += p[k]
    p /= np.maximum(total, 1e-300)
    return p


def _loglik(ll: np.ndarray) -> float:
    """Log likelihood of the devices: ``np.logaddexp.reduce(ll.T, axis=-1).sum()``."""
    total = ll[0].copy()
    for k in range(1, ll.shape[0]):
        np.logaddexp(total, ll[k], out=total)
    return float(total.sum())


def _earns_place(pops: DefectPopulations, fixed: _FixedParts, cls: int, cost: float) -> bool:
    """Keep class ``cls`` only if it raises the log likelihood of the devices by more than
    ``cost`` (BIC); else set its weight to :data:`ABSENT` (in place). A short component
    fitted by EM can settle on the upper tail of many stuck-P devices, an open one on the
    lower tail of the stuck-AP devices, on a die that has neither."""
    if _class_gain(pops, fixed, cls) > cost:
        return True
    pops.weights[cls] = ABSENT
    pops.weights /= pops.weights.sum()
    return False


def _class_gain(pops: DefectPopulations, fixed: _FixedParts, cls: int) -> float:
    """How much class ``cls`` raises the log likelihood of the devices (against its weight
    set to :data:`ABSENT`; ``pops`` unchanged)."""
    with_c = fixed.loglik(pops)
    kept = pops.weights.copy()
    pops.weights[cls] = ABSENT
    pops.weights /= pops.weights.sum()
    without = fixed.loglik(pops)
    pops.weights = kept
    return with_c - without


def normalise(ll: np.ndarray) -> np.ndarray:
    """Posteriors from log prior x likelihood along the last axis (-inf allowed)."""
    top = row_max(ll)[..., None]
    top = np.where(np.isfinite(top), top, 0.0)
    p = ll - top
    np.exp(p, out=p)
    p /= np.maximum(row_sum(p)[..., None], 1e-300)
    return p


def short_boundary(model: dict[str, Any]) -> float:
    """Conductance (S) above which a device that does not switch is more likely a short
    than stuck-P under the fitted model (for summaries and reports)."""
    mu_p, s_p = np.log(model["median_g_p"]), model["sigma_ln_p"]
    mu_s, s_s = np.log(model["short_median_g"]), model["short_sigma_ln"]
    w = model["class_weights"]
    x = np.linspace(mu_p, max(mu_s, mu_p + 1e-6), 2001)
    lp = np.log(max(w["STUCK_P"], 1e-12)) + lognorm(x, mu_p, s_p)
    ls = np.log(max(w["SHORT"], 1e-12)) + lognorm(x, mu_s, s_s)
    above = np.flatnonzero(ls > lp)
    return float(np.exp(x[above[0]] if above.size else mu_s))
