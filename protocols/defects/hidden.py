"""Switching a coarse converter hides: a good device that reads one code in both states.

A converter with step ``q`` (S) reports code ``k = round(G / q)``; a good device whose P and
AP conductances fall in one bin shows no switching at all, exactly as a stuck device at that
code does. Where one code is wider than the die's contrast (6 bits over 1 mA: one code is
31 uA at 0.1 V, more than a P device's whole current) that is common, and "no visible
switch" is no evidence of a stuck device. This module gives such a device's GOOD class the
probability of hiding, from the die's own level laws integrated over the converter's bins:

- each state's level law (a Gaussian in ``ln G``) is fitted by maximum likelihood to the
  codes the devices seen to switch read in that state (binned: a code is an interval of
  ``ln G``; :func:`fit_binned_law`), and the contrast law ``ln G_P - ln G_AP`` to their
  pairs of codes, each pair's probability conditioned on the codes differing
  (:func:`fit_contrast_law`);
- a good device reading code ``k > 0`` after both writes: the P law's mass of bin ``k``
  times the chance that its AP level, the contrast away, stays in that bin
  (:func:`hide_probability`, the level integrated over the bin), over the bin's width in
  ``ln G`` (a density, as the classifier's level likelihoods are; :func:`hidden_good_ll`);
- where the AP law sits in the bottom code (6 bits: every AP device reads no current) its
  median and the contrast are not measured: the laws are fitted to all devices' codes with
  an outlier share, both codes' masses (outliers included: as often as the die reads the
  code, an upper bound) are taken independently, and a device reading one code gets its
  stuck levels as bin masses too (:func:`binned_levels`: the floored spread put P devices
  two codes up);
- a device reading the bottom code in both states is open, stuck AP or a good device both
  of whose levels sit below half a step: where the AP law itself puts a material share in
  the bottom code the die cannot tell OPEN from STUCK_AP, and their class weights (which EM
  cannot split then) are shared evenly between the two (:func:`bottom_code_ll`).

Used by :mod:`mtj_hil.protocols.defects.classifier`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.special import ndtr

GOOD, SHORT, OPEN, STUCK_P, STUCK_AP = range(5)
BOTTOM_SHARE = 0.01
"""The AP law's mass in the bottom code above which OPEN and STUCK_AP are not told apart
there (the class weights are shared)."""
OUTLIER_START = 0.01
"""Starting share of devices reading outside a state's law (defects)."""
_GRID = 40
"""Points over a bin in the integral over a device's level within its code."""
MIN_SIGMA = 0.01
"""Smallest spread (ln G) a binned law is fitted with."""
_CODE_TOL = 1e-6


@dataclass(frozen=True)
class BinnedLaw:
    """A state's level law ``N(mu, sigma)`` in ln G (G in S), read through a converter with
    step ``step`` (S); ``outliers`` the share of devices fitted outside it."""

    mu: float
    sigma: float
    step: float
    outliers: float
    n_codes: int = 1
    censored: bool = False

    def log_mass(self, k: np.ndarray, outliers: bool = False) -> np.ndarray:
        """Log probability that a device of the law reads code ``k`` (elementwise); with
        ``outliers``, the outliers' share of a code added."""
        lo, hi = _edges(np.asarray(k, dtype=float), self.step)
        p = ndtr((hi - self.mu) / self.sigma) - ndtr((lo - self.mu) / self.sigma)
        if outliers:
            p = (1.0 - self.outliers) * p + self.outliers / self.n_codes
        return np.log(np.maximum(p, 1e-300))


def device_codes(x: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """Code per device from its mean ln G ``x`` (S) and whether ``x`` is one code exactly
    (every reading the same code); the bottom code (no current, ln of the floor) is 0."""
    g = np.exp(np.where(np.isfinite(x), x, -np.inf))
    k = np.round(g / step)
    exact = np.isfinite(x) & (np.abs(g / step - k) < _CODE_TOL * np.maximum(k, 1.0))
    return k, exact


def fit_binned_law(codes: np.ndarray, step: float, outliers: bool = True) -> BinnedLaw:
    """Maximum-likelihood ``N(mu, sigma)`` in ln G (with ``outliers``, plus an outlier share
    spread evenly over the codes read) of the codes ``codes`` (integers >= 0) read through
    step ``step`` (S).

    Raises:
        ValueError: no codes.
    """
    k = np.asarray(codes, dtype=float)
    k = k[np.isfinite(k)]
    if k.size == 0:
        raise ValueError("no codes to fit a level law to")
    uniq, counts = np.unique(k, return_counts=True)
    lo, hi = _edges(uniq, step)
    n_codes = max(uniq.size, 1)
    centre = np.log(np.maximum(uniq, 0.5) * step)
    mode = float(centre[np.argmax(counts)])
    spread = float(np.sqrt(np.average((centre - mode) ** 2, weights=counts)))

    def nll(theta: np.ndarray) -> float:
        mu, sig = theta[0], np.exp(theta[1])
        eps = 1.0 / (1.0 + np.exp(-theta[2])) if outliers else 0.0
        p = ndtr((hi - mu) / sig) - ndtr((lo - mu) / sig)
        return -float((counts * np.log((1 - eps) * p + eps / n_codes + 1e-300)).sum())

    start = np.array(
        [mode, np.log(max(min(spread, 1.0), 0.1)), np.log(OUTLIER_START / (1 - OUTLIER_START))]
    )
    res = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-6})
    mu, log_sig, t = res.x
    t = t if outliers else -np.inf
    return BinnedLaw(
        float(mu),
        float(max(np.exp(log_sig), MIN_SIGMA)),
        step,
        float(1 / (1 + np.exp(-t))),
        n_codes,
        bool(uniq[np.argmax(counts)] == 0),
    )


def transition(k_from: float, k_to: np.ndarray, here: BinnedLaw, shift: float, spread: float):
    """Probability that a good device read at code ``k_from`` in one state reads each code
    ``k_to`` in the other: its level in this state drawn from ``here`` within bin
    ``k_from``, the other state's level ``shift`` +- ``spread`` (ln G, the die's contrast
    law) away."""
    return _Transition(k_from, k_to, here)(shift, spread)


class _Transition:
    """:func:`transition` from ``k_from`` to ``k_to`` under ``here``, for any contrast law:
    what does not depend on the law (the level grid in bin ``k_from``, its weights, the
    target bins' edges) is computed once, for a fit that tries many laws."""

    def __init__(self, k_from: float, k_to: np.ndarray, here: BinnedLaw) -> None:
        lo, hi = (float(v[0]) for v in _edges(np.array([k_from]), here.step))
        lo = max(lo, hi - 10.0 * here.sigma - 10.0)  # (the bottom code: down to where it matters)
        self.t = np.linspace(lo, hi, _GRID + 2)[1:-1]
        lw = -0.5 * ((self.t - here.mu) / here.sigma) ** 2  # (a far law: its nearest edge)
        w = np.exp(lw - lw.max())
        w /= w.sum()
        self.w = w
        self.to_lo, self.to_hi = _edges(np.asarray(k_to, dtype=float), here.step)

    def __call__(self, shift: float, spread: float) -> np.ndarray:
        z_hi = (self.to_hi[..., None] - self.t - shift) / spread
        z_lo = (self.to_lo[..., None] - self.t - shift) / spread
        return ((ndtr(z_hi) - ndtr(z_lo)) * self.w).sum(axis=-1)


def hide_probability(k: np.ndarray, here: BinnedLaw, shift: float, spread: float) -> np.ndarray:
    """Probability that a good device read at code ``k`` (> 0) in one state reads ``k`` in
    the other too (see :func:`transition`); 0 for code 0."""
    k = np.asarray(k, dtype=float)
    out = np.zeros(k.shape)
    for code in np.unique(k[k > 0]):
        out[k == code] = float(transition(code, np.array([code]), here, shift, spread)[0])
    return out


def fit_contrast_law(
    k_p: np.ndarray, k_ap: np.ndarray, law_p: BinnedLaw, shift: float, spread: float
) -> tuple[float, float]:
    """Median and spread (ln G) of the contrast ``ln G_P - ln G_AP`` between devices, by
    maximum likelihood from the codes ``k_p``, ``k_ap`` of devices whose switch was seen
    (their codes differ: each pair's probability is conditioned on that), their P levels
    from ``law_p``; ``shift``, ``spread`` the starting values."""
    pairs, counts = np.unique(np.stack([k_p, k_ap]), axis=1, return_counts=True)
    seen = pairs[0] != pairs[1]
    pairs, counts = pairs[:, seen], counts[seen]
    if counts.size == 0:
        return shift, spread
    # per code read in P: the transitions to the AP codes seen from it and to itself
    # (what does not depend on the contrast law, computed once for all the fit's tries)
    terms = []
    for kf in np.unique(pairs[0]):
        at = pairs[0] == kf
        terms.append((_Transition(kf, np.append(pairs[1, at], kf), law_p), counts[at]))

    def nll(theta: np.ndarray) -> float:
        m, sd = theta[0], float(np.exp(theta[1]))
        total = 0.0
        for to, n in terms:
            p = to(-m, sd)
            seen_p = np.maximum(p[:-1] / max(1.0 - p[-1], 1e-300), 1e-300)
            total -= float((n * np.log(seen_p)).sum())
        return total

    start = np.array([shift, np.log(max(spread, MIN_SIGMA))])
    res = minimize(nll, start, method="Nelder-Mead", options={"xatol": 1e-4, "fatol": 1e-6})
    return float(res.x[0]), float(max(np.exp(res.x[1]), MIN_SIGMA))


@dataclass(frozen=True)
class CodeLaws:
    """The die's level laws read through its converter, and each device's codes.

    Attributes:
        law_p, law_ap: the P and AP level laws (:func:`fit_binned_law`).
        k: each device's code where it read one code in both states (else 0).
        same: devices that read one code in both states.
        shift, spread: the contrast law (ln G); NaN where the AP law is censored.
    """

    law_p: BinnedLaw
    law_ap: BinnedLaw
    k: np.ndarray
    same: np.ndarray
    shift: float
    spread: float

    @property
    def bottom(self) -> np.ndarray:
        """Devices reading code 0 (no current) in both states."""
        return self.same & (self.k == 0)


def fit_code_laws(
    x_p: np.ndarray,
    x_ap: np.ndarray,
    ok: np.ndarray,
    step: float,
    switched: np.ndarray,
    contrast_sigma: float,
) -> CodeLaws:
    """Fit the die's P, AP and contrast laws to its codes.

    ``x_p``, ``x_ap``: mean ln G after P and AP writes; ``ok`` the devices with valid
    readings; ``switched`` the devices seen to switch (the laws are fitted to them: no defect
    in their tails); ``contrast_sigma`` the die's fitted contrast spread (ln G), a start.
    The contrast law is fitted to the codes of the switching devices
    (:func:`fit_contrast_law`). Where the AP law sits in the bottom code (its median is not
    measured) the laws are fitted to all ``ok`` devices with an outlier share and no
    contrast law is fitted.
    """
    k_p, exact_p = device_codes(x_p, step)
    k_ap, exact_ap = device_codes(x_ap, step)
    fit = switched & ok & np.isfinite(x_p) & np.isfinite(x_ap)
    if not fit.any():
        fit = ok & np.isfinite(x_p) & np.isfinite(x_ap)
    law_p = fit_binned_law(k_p[fit], step, outliers=False)
    law_ap = fit_binned_law(k_ap[fit], step, outliers=False)
    shift = spread = float("nan")
    if law_ap.censored:
        every = ok & np.isfinite(x_p) & np.isfinite(x_ap)
        law_p, law_ap = fit_binned_law(k_p[every], step), fit_binned_law(k_ap[every], step)
    else:
        # quantised contrasts tie: their spread between devices is not what the die's fit says
        seen = fit & (k_p != k_ap)
        shift, spread = fit_contrast_law(
            k_p[seen],
            k_ap[seen],
            law_p,
            law_p.mu - law_ap.mu,
            max(float(contrast_sigma), float(np.hypot(law_p.sigma, law_ap.sigma))),
        )
    same = ok & exact_p & exact_ap & (k_p == k_ap)
    return CodeLaws(law_p, law_ap, np.where(same, k_p, 0.0), same, shift, spread)


def binned_levels(
    laws: CodeLaws, lv_p: np.ndarray, lv_ap: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """The level log densities ``lv_p``, ``lv_ap`` with those of devices reading one code
    ``k > 0`` in both states replaced by the laws' mass of bin ``k`` over its width in ln G
    (the density a level law has there once read through the converter: a spread floored
    by the quantisation would put a P device two codes up). Only where the AP law is
    censored (sits in the bottom code): elsewhere the levels span codes and the classifier's
    floored fit stands."""
    at = laws.same & (laws.k > 0)
    if not at.any() or not np.isnan(laws.shift):
        return lv_p, lv_ap
    k = np.where(at, laws.k, 1.0)
    log_width = np.log(np.subtract(*_edges(k, laws.law_p.step)[::-1]))
    return (
        np.where(at, laws.law_p.log_mass(k) - log_width, lv_p),
        np.where(at, laws.law_ap.log_mass(k) - log_width, lv_ap),
    )


def hidden_good_ll(
    laws: CodeLaws, stuck_ll: np.ndarray, odd: float = 0.0, span: float = 1.0
) -> np.ndarray:
    """Log likelihood (a density in ln G, as the level likelihoods are) of a good device
    whose switching the converter hid: it read one code ``k > 0`` in both states; ``-inf``
    for every other device. ``stuck_ll``: the switching evidence of a device that did not
    switch (flat device shape ``S``). The probability of both codes is the P law's mass of
    bin ``k`` times the contrast law's chance of the AP level staying in it
    (:func:`hide_probability`); where the contrast is not measured (the AP law censored),
    the two laws' masses of bin ``k`` with their outliers (as often as the die reads code
    ``k``: an upper bound). A share ``odd`` of good devices reads anywhere (a pinhole leak, a
    half-way switch: the classifier's odd good devices), evenly over ``span`` in ln G: the
    laws' tails, fitted to the few codes a coarse converter gives, do not rule out a good
    device at an odd code more surely than that."""
    at = laws.same & (laws.k > 0)
    k = np.where(at, laws.k, 1.0)
    p, ap = laws.law_p, laws.law_ap
    with np.errstate(divide="ignore"):
        if np.isnan(laws.shift):  # the two codes independently
            both = p.log_mass(k, outliers=True) + ap.log_mass(k, outliers=True)
        else:
            both = p.log_mass(k) + np.log(hide_probability(k, p, -laws.shift, laws.spread))
    log_width = np.log(np.subtract(*_edges(k, p.step)[::-1]))
    if odd > 0:
        both = np.logaddexp(np.log1p(-odd) + both, np.log(odd) + log_width - np.log(span))
    return np.where(at, stuck_ll + both - log_width, -np.inf)


def bottom_code_ll(
    ll: np.ndarray,
    bottom: np.ndarray,
    weights: np.ndarray,
    stuck_ll: np.ndarray,
    laws: CodeLaws,
) -> tuple[np.ndarray, np.ndarray]:
    """Class log-likelihoods ``(*S, 5)`` with those of the ``bottom`` devices (code 0 in
    both states) replaced by the bin probabilities: OPEN reads code 0 for certain, STUCK_AP
    with the AP law's bottom mass, STUCK_P and GOOD with the P law's (GOOD also needs the
    AP level there), SHORT not at all. Where the AP law's bottom mass exceeds
    :data:`BOTTOM_SHARE` the OPEN and STUCK_AP weights are shared evenly (the die cannot
    split them); else ``ll`` is returned unchanged. Also returns the devices replaced."""
    m_p = float(laws.law_p.log_mass(np.zeros(1))[0])
    m_ap = float(laws.law_ap.log_mass(np.zeros(1))[0])
    if not bottom.any() or np.exp(m_ap) < BOTTOM_SHARE:
        return ll, np.zeros(bottom.shape, bool)
    with np.errstate(divide="ignore"):
        lw = np.log(np.maximum(weights, 1e-300))
    shared = float(np.log(0.5 * (weights[OPEN] + weights[STUCK_AP])))
    per_class = np.array([lw[GOOD] + m_p + m_ap, -np.inf, shared, lw[STUCK_P] + m_p, shared + m_ap])
    out = ll.copy()
    out[bottom] = stuck_ll[bottom][:, None] + per_class[None, :]
    return out, bottom


def _edges(k: np.ndarray, step: float) -> tuple[np.ndarray, np.ndarray]:
    """ln G edges of code ``k``'s bin (the bottom code reaches down to 0 S)."""
    with np.errstate(divide="ignore"):
        lo = np.where(k > 0, np.log(np.maximum(k - 0.5, 1e-300) * step), -np.inf)
    return lo, np.log((k + 0.5) * step)
