"""The switching part of the defect classifier: did each device switch, given the read noise?

Per write cycle ``c`` a device shows ``d_c = ln G(after P) - ln G(after AP)`` (see
:mod:`mtj_hil.protocols.defects.evidence`). A device that does not switch shows ``d_c ~ N(0, sd)`` (read noise
only). A good device has a contrast ``delta`` of its own, drawn from the die's ``N(m_d, s_d)``,
and shows ``d_c ~ N(delta, sd)`` in every cycle whose verified write did not fail (rate ``e``
per cycle); a failed cycle looks unswitched. Functions here fit ``m_d``, ``s_d`` and ``e`` to
the die and give each device the marginal likelihood of "good" (``delta`` integrated out
exactly). Vectorised over devices; used by :mod:`mtj_hil.protocols.defects.classifier`.
"""

from __future__ import annotations

import numpy as np
from scipy.special import ndtr

from mtj_hil.protocols.defects.rowwise import median

_LOG_SQRT_2PI = 0.9189385332046727


def lognorm(x, mu, sigma) -> np.ndarray:
    """Log density of ``N(mu, sigma)`` at ``x`` (elementwise)."""
    z = (np.asarray(x) - mu) / sigma
    return -0.5 * z * z - np.log(sigma) - _LOG_SQRT_2PI


def fit_contrast(
    dbar: np.ndarray, n_cyc: np.ndarray, ok: np.ndarray, sd: float, iterations: int = 30
) -> tuple[float, float, np.ndarray]:
    """Median and spread between devices of the switching contrast, unbiased by read noise.

    ``dbar`` is each device's mean log ratio over its ``n_cyc`` cycles (per-cycle noise
    ``sd``). The devices in ``ok`` are a mixture of ones that do not switch (``dbar ~ N(0,
    sd / sqrt(n))``) and good ones (``dbar ~ N(m_d, sqrt(s_d^2 + sd^2 / n))``), fitted by EM,
    so no device is cut out for switching weakly against the noise. Returns ``m_d``, ``s_d``
    and each device's probability of being a switching one (0 outside ``ok``).
    """
    n = np.maximum(n_cyc, 1).astype(float)
    use = ok & (n_cyc > 0)
    x, nn = dbar[use], n[use]
    if x.size == 0:
        return float("nan"), float("nan"), np.zeros(dbar.shape)
    m = median(x)
    s = max(float(1.4826 * median(np.abs(x - m))), 1e-3)
    w = 0.95
    s_noise = sd / np.sqrt(nn)
    noise2 = s_noise**2
    flat = lognorm(x, 0.0, s_noise)  # (the same in every iteration)
    # Each iteration is a function of (w, m, s) alone: once a state recurs, the rest of the
    # iterations repeat (a fixed point, or a last-bit oscillation between two states).
    seen = [(w, m, s)]  # seen[i]: the state after i iterations
    resps: list[np.ndarray] = []  # resps[i]: the responsibilities of iteration i + 1
    for it in range(1, iterations + 1):
        total = s * s + noise2
        l_good = np.log(w) + lognorm(x, m, np.sqrt(total))
        l_flat = np.log1p(-w) + flat
        r = 1.0 / (1.0 + np.exp(np.clip(l_flat - l_good, -700.0, 700.0)))
        w = float(np.clip(r.mean(), 1e-6, 1 - 1e-6))
        # Precision-weighted mean and a moment estimate of the spread between devices.
        prec = r / total
        m = float((prec * x).sum() / max(prec.sum(), 1e-300))
        var = float((r * ((x - m) ** 2 - noise2)).sum() / max(r.sum(), 1e-300))
        s = max(np.sqrt(max(var, 0.0)), 1e-3)
        seen.append((w, m, s))
        resps.append(r)
        period = next((p for p in (1, 2) if it >= p and seen[it - p] == (w, m, s)), 0)
        if period:
            # the state after all iterations, and the responsibilities of the last one
            w, m, s = seen[it - period + (iterations - it) % period]
            r = resps[it - period + (iterations - 1 - it) % period]
            break
    resp = np.zeros(dbar.shape)
    resp[use] = r
    return m, s, resp


def write_failure_rate(
    d: np.ndarray,
    ok: np.ndarray,
    fit: np.ndarray,
    sd: float,
    m_d: float,
    s_good: float,
    prior: float,
    switch_sigmas: float,
) -> tuple[float, float, int]:
    """Per-cycle failure rate of a verified write, from devices that switched in some cycle.

    Each cycle of such a device either switched (``d ~ N(m_d, s_good)``) or not (``d ~ N(0,
    sd)``); the unswitched share is fitted by EM (noise alone is not counted as a failure),
    with ``prior`` as a weak prior. Devices are selected by their best cycle (above
    ``switch_sigmas`` x ``sd``), which is left out of the trials; when no cycle stands out
    (noisy reads) the ``fit`` devices are used. Returns the rate, failures and trials.
    """
    have = np.isfinite(d)
    dv = np.where(have, d, 0.0)
    some, spare = switched_in_some(d, ok, fit, sd, switch_sigmas)
    use = have & some[None]
    trials = int(use.sum()) - spare * int(some.sum())
    if trials <= 0:
        return prior, 0.0, 0
    x = dv[use]
    l_sw, l_fail = lognorm(x, m_d, s_good), lognorm(x, 0.0, sd)
    e, fails = prior, 0.0
    for _ in range(20):
        z = np.clip(np.log(e) + l_fail - np.log1p(-e) - l_sw, -700.0, 700.0)
        fails = float((1.0 / (1.0 + np.exp(-z))).sum())
        # The selecting cycle was switched by construction: its share is not a failure.
        e, before = min((fails + 1.0) / (trials + 1.0 / prior), 0.5), e
        if e == before:
            break  # a fixed point: every further iteration is this one again
    return e, fails, trials


def switched_in_some(
    d: np.ndarray, ok: np.ndarray, fit: np.ndarray, sd: float, switch_sigmas: float
) -> tuple[np.ndarray, int]:
    """The devices whose best cycle switched by more than ``switch_sigmas`` x ``sd`` (and 1:
    that cycle is a switch by selection), or, when fewer than half the ``fit`` devices have
    such a cycle (noisy reads), the ``fit`` devices (and 0)."""
    best = np.where(np.isfinite(d), d, -np.inf).max(axis=0)
    some = ok & (best > switch_sigmas * sd)
    if int(some.sum()) < 0.5 * int(fit.sum()):
        return fit, 0
    return some, 1


def good_loglik(
    d: np.ndarray,
    m_d: float,
    s_d: float,
    sd: float,
    e,
    tail: float = 0.0,
    tail_low: float = 0.0,
    cycles: tuple[np.ndarray, ...] | None = None,
) -> np.ndarray:
    """Log likelihood of each device's cycles ``d`` ``(cycles, ...)`` under "good, switched
    in at least one cycle" (NaN cycles are left out; devices with none get 0).

    The cycles that switched are taken to be the ``k`` largest ``d_c`` (the dominant
    assignment for each ``k``); for each ``k`` the contrast ``delta`` is integrated out
    exactly (Gaussian prior ``N(m_d, s_d)``, noise ``sd``), the other cycles failed (rate
    ``e``, ``d ~ N(0, sd)``), and the ``k`` are summed. ``e`` is one rate for all devices or
    a :class:`~mtj_hil.protocols.defects.failures.WriteFailures` (rate varying between
    devices: failed cycles cluster on some devices).

    With ``tail`` > 0 the contrast is drawn from ``N(m_d, s_d)`` with probability ``1 -
    tail`` and uniformly between ``tail_low`` and ``m_d`` otherwise: a device that switches
    with a contrast well below the die's (a pinhole leak, a half-way switch) is still a
    device that switches. ``tail_low`` keeps a contrast indistinguishable from 0 out.
    ``cycles``: :func:`sort_cycles` of ``d`` (what does not depend on the noise, shared by
    several calls).
    """
    n, valid, x, k, mean, ss = cycles if cycles is not None else sort_cycles(d)
    flat_all = np.where(valid, lognorm(x, 0.0, sd), 0.0)
    flat_rest = flat_all.sum(axis=0) - np.cumsum(flat_all, axis=0)
    ll_sw = switched_loglik(k, mean, ss, (m_d, s_d), sd, tail, tail_low)
    if hasattr(e, "log_pattern"):
        pattern = e.log_pattern(np.maximum(n - k, 0), k)
    else:
        pattern = k * np.log1p(-e) + (n - k) * np.log(e)
    ll = ll_sw + pattern + flat_rest
    ll = np.where(k <= n, ll, -np.inf)
    top = ll.max(axis=0)
    safe = np.where(np.isfinite(top), top, 0.0)
    with np.errstate(divide="ignore"):  # devices without a cycle: replaced by 0 below
        out = safe + np.log(np.exp(ll - safe).sum(axis=0))
    return np.where(n > 0, out, 0.0)


def switched_loglik(
    k, mean, ss, contrast: tuple[float, float], sd: float, tail: float = 0.0, tail_low: float = 0.0
) -> np.ndarray:
    """Log density of ``k`` >= 1 switched cycles (their mean ``mean`` and sum of squares
    about it ``ss``, elementwise) of one device, its contrast ``delta`` integrated out
    exactly: ``delta ~ N(m_d, s_d)`` (``contrast``), or with probability ``tail`` uniform on
    ``[tail_low, m_d]``; each cycle ``N(delta, sd)``."""
    m_d, s_d = contrast
    prior = lognorm(mean, m_d, np.sqrt(s_d * s_d + sd * sd / k))
    if tail > 0 and m_d > tail_low:
        # Uniform contrast on [tail_low, m_d]: the Gaussian in delta integrated over it.
        se = sd / np.sqrt(k)
        mass = tail_ndtr((m_d - mean) / se) - tail_ndtr((tail_low - mean) / se)
        with np.errstate(divide="ignore"):
            uniform = np.log(np.maximum(mass, 1e-300)) - np.log(m_d - tail_low)
        prior = np.logaddexp(np.log1p(-tail) + prior, np.log(tail) + uniform)
    return (
        -ss / (2 * sd * sd)
        - k * (np.log(sd) + _LOG_SQRT_2PI)
        + np.log(np.sqrt(2 * np.pi) * sd / np.sqrt(k))
        + prior
    )


def sort_cycles(d: np.ndarray) -> tuple[np.ndarray, ...]:
    """The noise-free part of :func:`good_loglik`: per device the cycles ``d`` sorted in
    descending order, and for each ``k`` the mean and the sum of squares about it of the
    ``k`` largest (valid cycles, NaN ones last)."""
    have = np.isfinite(d)
    n = have.sum(axis=0)
    srt = -np.sort(np.where(have, -d, np.inf), axis=0)  # descending, NaN cycles (-inf) last
    valid = np.isfinite(srt)
    x = np.where(valid, srt, 0.0)
    k = np.arange(1, d.shape[0] + 1).reshape((-1,) + (1,) * (d.ndim - 1)).astype(float)
    s1, s2 = np.cumsum(x, axis=0), np.cumsum(x * x, axis=0)
    mean = s1 / k
    ss = np.maximum(s2 - k * mean * mean, 0.0)
    return n, valid, x, k, mean, ss


NDTR_ZERO = -40.0
"""Below this ``scipy.special.ndtr`` is exactly 0: its ``erfc(|x| / sqrt 2)`` underflows once
``x^2 / 2`` exceeds ``MAXLOG`` (709.78), i.e. below about -37.7."""
NDTR_ONE = 9.0
"""Above this ``ndtr`` is exactly 1: ``1 - erfc(x / sqrt 2) / 2`` with the erfc term below
1e-19, far under half an ulp of 1."""


def tail_ndtr(x: np.ndarray) -> np.ndarray:
    """``scipy.special.ndtr(x)`` bit for bit, evaluated only between :data:`NDTR_ZERO` and
    :data:`NDTR_ONE` (outside it is exactly 0 or 1; most of a die's lower integration limits
    lie far below)."""
    x = np.asarray(x, dtype=float)
    out = np.where(x > NDTR_ONE, 1.0, 0.0)
    inside = ~((x < NDTR_ZERO) | (x > NDTR_ONE))  # (NaN is evaluated: it stays NaN)
    out[inside] = ndtr(x[inside])
    return out


def deconvolve(measured: float, noise: float) -> float:
    """Spread between devices from a measured spread that includes ``noise`` (floor 1e-3)."""
    return float(np.sqrt(max(measured**2 - noise**2, 1e-6)))


def bayes_error(mu1: float, s1: float, mu2: float, s2: float) -> float:
    """Error of telling two equally likely Gaussians apart: half their overlap area."""
    lo, hi = min(mu1 - 8 * s1, mu2 - 8 * s2), max(mu1 + 8 * s1, mu2 + 8 * s2)
    x = np.linspace(lo, hi, 4001)
    f = np.minimum(np.exp(lognorm(x, mu1, s1)), np.exp(lognorm(x, mu2, s2)))
    return float(0.5 * np.sum(f) * (x[1] - x[0]))
