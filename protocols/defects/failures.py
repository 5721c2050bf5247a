"""Write failures that vary between devices: a beta-binomial over the failed-cycle counts.

A verified write can leave a good device unswitched. The rate is not the same for every
device: one whose switching threshold sits near the end of the write-verify escalation (or
whose verify read lands near the threshold under noisy reads) fails again and again, while
most never fail. With one rate ``e`` for all devices, "every one of 3 cycles failed" has
probability ``e^3`` and a good device that did so is called stuck with confidence; with the
per-device failure probability ``p ~ Beta(a, b)`` it has probability ``B(a + 3, b) / B(a, b)``,
which can be orders of magnitude larger.

:func:`fit_failure_spread` fits the spread of ``p`` (the intra-device correlation ``rho``,
``a + b = 1 / rho - 1``) by maximum likelihood over the devices that switched in some cycle,
each cycle's switched / failed state summed out (noise alone is not a failure), the selection
("switched at least once") divided out. ``rho -> 0`` is one rate for all devices. Used by
:mod:`mtj_hil.protocols.defects.classifier` and :func:`mtj_hil.protocols.defects.contrast.good_loglik`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize_scalar
from scipy.special import betaln

from mtj_hil.protocols.defects.contrast import lognorm, switched_in_some

RHO_MIN = 1e-6
"""Smallest correlation fitted (indistinguishable from one rate for all devices)."""
RHO_MAX = 0.95
"""Largest correlation fitted (nearly every device always or never fails)."""
MIN_FAILURES = 5.0
"""Fewer failed cycles (expected, among the devices that switched) than this and one rate is
kept for all devices: a handful of failures cannot show how they are spread."""
MIN_GAIN = 3.0
"""The spread is kept only if it raises the log likelihood by this much over one rate."""
MIN_REPEATED = 3.0
"""...and only if the fitted model puts at least this many devices (expected) at two or more
failed cycles: correlation is failures repeating on one device."""
AGREE_SIGMAS = 5.0
"""A cycle farther than this many sigmas from both the unswitched and the switched level
fits neither: its device is left out of the fit (:func:`agreeing`)."""


@dataclass(frozen=True)
class WriteFailures:
    """Per-cycle write failure probability ``p ~ Beta(a, b)`` between devices.

    Attributes:
        mean: mean failure probability per cycle (``a / (a + b)``).
        rho: correlation of two cycles' failures of one device (0: independent cycles).
    """

    mean: float
    rho: float = 0.0

    @property
    def ab(self) -> tuple[float, float]:
        """The beta distribution's ``(a, b)``."""
        conc = 1.0 / max(self.rho, 1e-12) - 1.0
        return self.mean * conc, (1.0 - self.mean) * conc

    def log_pattern(self, fails, succ) -> np.ndarray:
        """Log probability of one given sequence of ``fails`` failed and ``succ`` switched
        cycles (elementwise; counts >= 0)."""
        f = np.asarray(fails, float)
        s = np.asarray(succ, float)
        if self.rho <= RHO_MIN:
            return f * np.log(self.mean) + s * np.log1p(-self.mean)
        a, b = self.ab
        return betaln(a + f, b + s) - betaln(a, b)

    def log_all_failed(self, n) -> np.ndarray:
        """Log probability that all of ``n`` cycles failed."""
        return self.log_pattern(n, 0)

    def as_model(self) -> dict:
        return {"write_failure_rate": float(self.mean), "write_failure_correlation": self.rho}


def agreeing(d: np.ndarray, sd: float, m_d: float, s_good: float) -> np.ndarray:
    """Devices every cycle of which is either unswitched (``|d| <= AGREE_SIGMAS sd``) or
    switched (``|d - m_d| <= AGREE_SIGMAS s_good``), shape ``d.shape[1:]``.

    A device outside both (a resistive open read at a tiny current, a jumpy contact) is
    neither a good device nor a failed write: counted, its noisy "switched" cycle and the
    rest as "failed" made such devices look like good ones that fail again and again."""
    have = np.isfinite(d)
    dv = np.where(have, d, 0.0)
    fits = (np.abs(dv) <= AGREE_SIGMAS * sd) | (np.abs(dv - m_d) <= AGREE_SIGMAS * s_good)
    return np.all(fits | ~have, axis=0)


def fit_failure_spread(
    d: np.ndarray,
    ok: np.ndarray,
    fit: np.ndarray,
    sd: float,
    m_d: float,
    s_good: float,
    mean: float,
    switch_sigmas: float,
) -> WriteFailures:
    """Fit the correlation of a device's failures between cycles, the mean rate ``mean`` fixed.

    ``d`` ``(cycles, ...)`` are the per-cycle log ratios; the devices that switched in some
    cycle are chosen as for the mean rate (:func:`~mtj_hil.protocols.defects.contrast.
    switched_in_some`), those with a cycle that fits neither state left out
    (:func:`agreeing`). A cycle switched (``d ~ N(m_d, s_good)``) or failed (``d ~ N(0,
    sd)``); for each device the likelihood of every count of failures is summed over which
    cycles failed, weighted by the beta-binomial, and divided by the chance of at least one
    switch. (The mean is not fitted with it: selected on one switch, a large correlation
    makes the mean all but free, and it ran to where half the devices never switch.) The
    spread is kept only if it beats one rate for all devices by :data:`MIN_GAIN` in log
    likelihood and puts :data:`MIN_REPEATED` or more devices at two or more failed cycles;
    else ``WriteFailures(mean)``: one rate ``mean`` for all devices, exactly as without this
    model.
    """
    one = WriteFailures(mean)
    if d.shape[0] < 2 or not 0.0 < mean < 1.0:
        return one
    some = switched_in_some(d, ok, fit, sd, switch_sigmas)[0] & agreeing(d, sd, m_d, s_good)
    have = np.isfinite(d) & some[None]
    if not some.any():
        return one
    dv = np.where(have, d, 0.0)[:, some]
    hv = have[:, some]
    l_fail = np.where(hv, lognorm(dv, 0.0, sd), 0.0)
    l_sw = np.where(hv, lognorm(dv, m_d, s_good), 0.0)
    # poly[f] = log of the sum over sets of f failed cycles (elementary symmetric sums)
    cycles, n_dev = dv.shape
    poly = np.full((cycles + 1, n_dev), -np.inf)
    poly[0] = 0.0
    for c in range(cycles):
        new = poly + l_sw[c]
        new[1:] = np.logaddexp(new[1:], poly[:-1] + l_fail[c])
        poly = np.where(hv[c], new, poly)
    n = hv.sum(axis=0)
    z = np.clip(np.log(mean) + l_fail - np.log1p(-mean) - l_sw, -700.0, 700.0)
    if float(np.where(hv, 1.0 / (1.0 + np.exp(-z)), 0.0).sum()) < MIN_FAILURES:
        return one
    f = np.arange(cycles + 1)[:, None]
    use = n >= 2
    valid = (f <= n) & use
    if not use.any():
        return one

    def per_device(wf: WriteFailures) -> np.ndarray:
        return np.where(valid, poly + wf.log_pattern(f, np.maximum(n - f, 0)), -np.inf)

    def nll(logit_rho: float) -> float:
        wf = WriteFailures(mean, _expit(logit_rho))
        dev = np.logaddexp.reduce(per_device(wf), axis=0)
        sel = np.log(-np.expm1(np.minimum(wf.log_all_failed(n), -1e-300)))
        return -float(np.sum((dev - sel)[use]))

    lo, hi = _logit(RHO_MIN), _logit(RHO_MAX)
    best = minimize_scalar(nll, bounds=(lo, hi), method="bounded", options={"xatol": 1e-2})
    wf = WriteFailures(mean, _expit(best.x))
    # kept only if it beats one rate for all devices clearly (likelihood ratio)
    if not nll(lo) - best.fun > MIN_GAIN:
        return one
    # the spread must show as devices that failed repeatedly, not be read into single failures
    ll = per_device(wf)
    post = np.exp(ll - np.logaddexp.reduce(ll, axis=0))
    repeated = float(np.where(f >= 2, post, 0.0)[:, use].sum())
    if repeated < MIN_REPEATED:
        return one
    return wf


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _expit(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))
