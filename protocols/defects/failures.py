"""Write failures that vary between devices: a beta-binomial over the failed-cycle counts.

A verified write can leave a good device unswitched. The rate is not the same for every
device: one whose switching threshold sits near the end of the write-verify escalation (or
whose verify read lands near the threshold under noisy reads) fails again and again, while
most never fail. With one rate ``e`` for all devices, "every one of 3 cycles failed" has
probability ``e^3`` and a good device that did so is called stuck with confidence; with the
per-device failure probability ``p ~ Beta(a, b)`` it has probability ``B(a + 3, b) / B(a, b)``,
which can be orders of magnitude larger.

:func:`fit_failure_spread` fits the spread of ``p`` (the intra-device correlation ``rho``,
``a + b = 1 / rho - 1``) and its mean by maximum likelihood, each cycle's switched / failed
state summed out (noise alone is not a failure) under the device's own contrast (integrated
out: a small contrast is not a failure either), the devices that switched in no cycle a
share of their own. ``rho -> 0`` is one rate for all devices. Used by
:mod:`mtj_hil.protocols.defects.classifier` and
:func:`mtj_hil.protocols.defects.contrast.good_loglik`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize, minimize_scalar
from scipy.special import betaln

from mtj_hil.protocols.defects.contrast import lognorm, switched_loglik

RHO_MIN = 1e-6
"""Smallest correlation fitted (indistinguishable from one rate for all devices)."""
RHO_MAX = 0.95
"""Largest correlation fitted (nearly every device always or never fails)."""
MEAN_MIN, MEAN_MAX = 1e-7, 0.5
"""Range of the mean failure rate fitted with the correlation."""
MIN_FAILURES = 5.0
"""Fewer failed cycles (expected, among the devices that switched) than this and one rate is
kept for all devices: a handful of failures cannot show how they are spread."""
MIN_GAIN = 3.0
"""The spread is kept only if it raises the log likelihood by this much over one rate."""
MIN_REPEATED = 3.0
"""...and only if the fitted model puts at least this many devices (expected) at two or more
failed cycles: correlation is failures repeating on one device."""
MAX_FIT_CYCLES = 6
"""At most this many cycles of a device enter the fit (its first valid ones): every set of
failed cycles is summed, 2^cycles of them."""
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


CLEAN_SWITCH_CYCLES = 3
"""Cycles a device must switch in for :func:`switches_every_cycle` (noise read off a hard
open, or an offset and drift on it, lands in the switch's band now and then: three cycles
in a row, each in it, do not)."""


def switches_every_cycle(d: np.ndarray, sd: float, m_d: float, s_good: float) -> np.ndarray:
    """Devices (``d.shape[1:]``) with :data:`CLEAN_SWITCH_CYCLES` or more valid cycles, each
    one a switch with the die's contrast: at least half of ``m_d`` (and beyond
    ``AGREE_SIGMAS sd`` of 0), at most 3 ``s_good`` above it (``d``: per-cycle log ratios,
    ``(cycles, ...)``; ``m_d`` the die's median contrast, ``s_good`` a good device's
    per-cycle spread about it)."""
    have = np.isfinite(d)
    dv = np.where(have, d, 0.0)
    low = max(0.5 * m_d, AGREE_SIGMAS * sd)
    switched = (dv >= low) & (dv <= m_d + 3.0 * s_good)
    return (have.sum(axis=0) >= CLEAN_SWITCH_CYCLES) & np.all(switched | ~have, axis=0)


def fit_failure_spread(
    d: np.ndarray,
    ok: np.ndarray,
    sd: float,
    m_d: float,
    s_d: float,
    mean: float,
    tail: float = 0.0,
    tail_low: float = 0.0,
) -> WriteFailures:
    """Fit how a device's failures cluster between cycles: the correlation and, with it, the
    mean rate (``mean``, the per-cycle EM rate, is kept where no spread is).

    ``d`` ``(cycles, ...)`` are the per-cycle log ratios of the devices; those in ``ok``
    (not hard opens) whose every cycle fits the switched or the unswitched state
    (:func:`agreeing`) are fitted. A cycle failed (``d ~ N(0, sd)``) or switched (``d ~
    N(delta, sd)``, ``delta`` the device's own contrast, drawn once per device from ``N(m_d,
    s_d)`` with a ``tail`` of small contrasts down to ``tail_low`` as in
    :func:`~mtj_hil.protocols.defects.contrast.good_loglik`): :func:`failure_counts` gives
    each device's likelihood of every count of failures, ``delta`` integrated out. So a good
    device whose own contrast is small (its cycles all low, one or two under the noise) is
    that, not a device that fails again and again. A device is either one that switched in
    some cycle (the beta-binomial over its failure counts, divided by the chance of at least
    one switch) or one that switched in none (stuck, a short, or a good device whose every
    write failed: the same evidence), a share of its own fitted by EM. Selected instead as
    devices that look switching, stuck devices with a noisy cycle up counted as good ones
    failing in every cycle (correlation 0.95 on a 5 % noise, 20 % TMR die without one failed
    write), and devices that failed twice were left out with them. The spread is kept only if
    it beats one rate for all devices (fitted likewise) by :data:`MIN_GAIN` in log likelihood
    and puts :data:`MIN_REPEATED` or more devices at two or more failed cycles; else
    ``WriteFailures(mean)``: one rate ``mean`` for all devices, exactly as without this model.
    """
    one = WriteFailures(mean)
    if d.shape[0] < 2 or not 0.0 < mean < 1.0:
        return one
    s_good = float(np.hypot(s_d, sd))
    some = ok & agreeing(d, sd, m_d, s_good)
    if not some.any():
        return one
    # (only as many cycles as most devices have: a re-measurement's extra cycles are of the
    # devices left uncertain, many of them stuck, and among 6 noisy cycles of a stuck device
    # one passes for a switch: they made "failed 5 of 6" look common, correlation 0.95)
    usual = int(np.median(np.isfinite(d[:, some]).sum(axis=0)))
    poly, n = failure_counts(d[:, some], sd, (m_d, s_d), tail, tail_low, usual)
    use = n >= 2
    if not use.any():
        return one
    poly, n = poly[:, use], n[use]
    f = np.arange(poly.shape[0])[:, None]
    # the device switched in no cycle: stuck (or a short), or a good one whose writes all failed
    flat = np.take_along_axis(poly, n[None], axis=0)[0]
    switched = f < n
    counts, which = np.unique(n, return_inverse=True)  # (few distinct counts of cycles)
    share = [1e-3]  # of the devices that switched in no cycle (each fit starts at the last)

    def fitted(wf: WriteFailures) -> tuple[float, np.ndarray]:
        """Log likelihood (share of devices that switched in no cycle profiled out) and
        each device's posterior over its count of failures."""
        pattern = wf.log_pattern(f, np.maximum(counts[None] - f, 0))[:, which]
        ll = np.where(switched, poly + pattern, -np.inf)
        top = ll.max(axis=0)
        post = np.exp(ll - top)
        dev = top + np.log(post.sum(axis=0))
        post /= post.sum(axis=0)
        # (the chance of "switched in some cycle" divided out)
        any_switch = np.log(-np.expm1(np.minimum(wf.log_all_failed(counts), -1e-300)))
        total, none, share[0] = _flat_share(dev - any_switch[which], flat, share[0])
        return total, post * (1.0 - none)

    # expected failed cycles (of devices that switched) under one rate for all devices
    if float((f * fitted(one)[1]).sum()) < MIN_FAILURES:
        return one

    def nll(x) -> float:
        return -fitted(WriteFailures(_expit(x[0]), _expit(x[1])))[0]

    lo, hi = _logit(RHO_MIN), _logit(RHO_MAX)
    m_bounds = (_logit(MEAN_MIN), _logit(MEAN_MAX))
    # one rate for all devices, then the rate and its spread together
    single = minimize_scalar(
        lambda u: nll((u, lo)), bounds=m_bounds, method="bounded", options={"xatol": 1e-2}
    )
    spread = minimize_scalar(
        lambda r: nll((single.x, r)), bounds=(lo, hi), method="bounded", options={"xatol": 1e-2}
    )
    best = minimize(
        nll,
        np.array([single.x, spread.x]),
        method="Nelder-Mead",
        bounds=[m_bounds, (lo, hi)],
        options={"xatol": 1e-2, "fatol": 1e-3},
    )
    wf = WriteFailures(_expit(best.x[0]), _expit(best.x[1]))
    # kept only if it beats one rate for all devices clearly (likelihood ratio)
    if not single.fun - best.fun > MIN_GAIN:
        return one
    # the spread must show as devices that failed repeatedly, not be read into single failures
    repeated = float(np.where(f >= 2, fitted(wf)[1], 0.0).sum())
    if repeated < MIN_REPEATED:
        return one
    return wf


def _flat_share(switched: np.ndarray, flat: np.ndarray, pi: float = 1e-3, iterations: int = 50):
    """Mixture of devices that switched in some cycle (log likelihoods ``switched``) and
    devices that switched in none (``flat``), the share of the latter fitted by EM from
    ``pi``: the total log likelihood, each device's probability of switching in none, and
    the share."""
    diff = flat - switched

    def share(pi: float) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(np.clip(np.log1p(-pi) - np.log(pi) - diff, -700.0, 700.0)))

    for _ in range(iterations):
        pi, before = float(np.clip(share(pi).mean(), 1e-9, 0.5)), pi
        if abs(pi - before) <= 1e-6 * before:
            break
    z = share(pi)
    total = np.logaddexp(np.log1p(-pi) + switched, np.log(pi) + flat)
    return float(total.sum()), z, pi


def failure_counts(
    d: np.ndarray,
    sd: float,
    contrast: tuple[float, float],
    tail: float = 0.0,
    tail_low: float = 0.0,
    max_cycles: int = 6,
    chunk: int = 4096,
) -> tuple[np.ndarray, np.ndarray]:
    """Each device's log likelihood of its cycles ``d`` ``(cycles, devices)`` given ``f``
    failed cycles, for every ``f``: ``poly[f]`` ``(cycles + 1, devices)`` is the log of the
    sum over the sets of ``f`` failed cycles (``N(0, sd)`` each) of the density of the
    cycles, the others switched with the device's own contrast integrated out
    (:func:`~mtj_hil.protocols.defects.contrast.switched_loglik`; ``contrast`` = ``(m_d,
    s_d)``, ``tail``, ``tail_low``). Every set is summed exactly, over the first
    ``max_cycles`` (at most :data:`MAX_FIT_CYCLES`) valid cycles of each device (NaN cycles
    are left out); also
    returns how many cycles each device has (``n``, ``poly[f > n] = -inf``)."""
    have = np.isfinite(d)
    # valid cycles first (in their order), at most MAX_FIT_CYCLES of them
    order = np.argsort(~have, axis=0, kind="stable")[: max(min(max_cycles, MAX_FIT_CYCLES), 1)]
    hv = np.take_along_axis(have, order, axis=0)
    x = np.where(hv, np.take_along_axis(np.where(have, d, 0.0), order, axis=0), 0.0)
    cycles, n_dev = x.shape
    n = hv.sum(axis=0)
    flat = np.where(hv, lognorm(x, 0.0, sd), 0.0)
    # log of the sum over the sets of p switched cycles, p = 0..cycles; the devices with m
    # valid cycles together, over the 2^m sets of those
    by_count = np.full((cycles + 1, n_dev), -np.inf)
    for m in np.unique(n):
        cols = np.flatnonzero(n == m)
        bits = (np.arange(2**m)[:, None] >> np.arange(m)[None, :]) & 1
        switched = bits.sum(axis=1)
        bits = bits.astype(float)  # (sets, cycles): 1 = switched in that set
        kk = np.maximum(switched, 1).astype(float)[:, None]
        for lo in range(0, cols.size, chunk):
            sl = cols[lo : lo + chunk]
            xs, fl = x[:m, sl], flat[:m, sl]
            # (einsum, not a BLAS product: these are tiny, and BLAS threads only contend)
            mu = np.einsum("sc,cd->sd", bits, xs) / kk
            ss = np.maximum(np.einsum("sc,cd->sd", bits, xs * xs) - kk * mu * mu, 0.0)
            sw = switched_loglik(kk, mu, ss, contrast, sd, tail, tail_low)
            ll = fl.sum(axis=0) - np.einsum("sc,cd->sd", bits, fl)
            ll = ll + np.where(switched[:, None] > 0, sw, 0.0)
            for p in range(m + 1):
                rows = ll[switched == p]
                top = rows.max(axis=0)
                by_count[p, sl] = top + np.log(np.exp(rows - top).sum(axis=0))
    # f failed cycles of a device with n valid ones: n - f switched
    f = np.arange(cycles + 1)[:, None]
    pick = np.clip(n[None, :] - f, 0, cycles)
    poly = np.where(f <= n, np.take_along_axis(by_count, pick, axis=0), -np.inf)
    return poly, n


def _logit(p: float) -> float:
    return float(np.log(p / (1.0 - p)))


def _expit(x: float) -> float:
    return float(1.0 / (1.0 + np.exp(-x)))
