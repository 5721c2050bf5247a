"""Information-driven trial placement: where the next batch of switching trials tells most
about each device's Vc0 and Delta, and when an array has been measured well enough.

Model (:mod:`mtj_hil.protocols.switching.fit`): a pulse of amplitude ``V`` (V) and width
``t`` (s) switches a device with probability ``P = (1 - f)(1 - exp(-e))``,
``e = exp(eta)``, ``eta = ln(t / tau0) + a + b V``, ``a = -Delta``, ``b = Delta / Vc0``. One
trial's Fisher information about ``(a, b)`` is ``w (1, V)^T (1, V)`` with
``w = (dP/deta)^2 / (P (1 - P))``: it vanishes where ``P`` is close to 0 or 1 and peaks
near ``P = 0.8``. A single width only tells ``a`` from ``b`` through the curve's shape;
other widths move ``eta`` by ``ln(t / tau0)`` and separate them.

The rule (:func:`choose_point`), per array and direction, given each device's current
estimate ``theta`` and posterior covariance ``C`` (the MAP fit with its prior):

1. *precision* of a device: the 90 % interval half-widths of Vc0 and Delta, relative to
   the values (:func:`half_widths`); a device is *done* when both are within the plan's
   targets;
2. *loss* of a device: ``max(h_vc / target_vc, 1)^2 + max(h_delta / target_delta, 1)^2``
   (2 when done: finished devices pull no trials);
3. for every candidate pulse (the plan's widths x its amplitudes and, per width, the
   amplitudes where the devices' estimated ``P`` is 0.8 at the 5th..95th percentile of the
   devices), the loss after ``batch`` more trials, ``C' = (C^-1 + batch J)^-1``; the
   candidate with the largest summed loss reduction over the devices is next;
4. the array (direction) stops once ``done_fraction`` of the fitted devices are done, when
   no candidate reduces the loss, or when its trial budget is spent (the caller's).

*Guard.* Every candidate passes :func:`allowed`: widths from the plan only, amplitudes
clipped to the plan's amplitude range and the die's limits. A model-driven amplitude can
fall outside (a device estimated at a high Vc0); it is then moved to the range's edge, never
proposed outside it. The chosen pulse then goes through the same sequence path as the
grid's, whose backend checks it against the station's safety envelope before upload.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.chip import Layout
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.switching.fit import Z90

P_INFORMATIVE = 0.8
"""Switching probability at which one trial tells most about ``eta`` (complementary
log-log link: ``w(eta)`` peaks at ``e = 1.59``, ``P = 0.80``)."""
QUANTILES = (0.05, 0.15, 0.3, 0.5, 0.7, 0.85, 0.95)
"""Device percentiles whose ``P = 0.8`` amplitudes are candidates at each width."""


@dataclass(frozen=True)
class PulseRange:
    """Pulses the placement may propose: ``widths`` (s) and amplitudes (V) in
    ``[amp_lo, amp_hi]``."""

    amp_lo: float
    amp_hi: float
    widths: tuple[float, ...]


@dataclass(frozen=True)
class Choice:
    """What :func:`choose_point` decided.

    Attributes:
        amplitude, width: the next pulse (V, s); NaN when ``stop``.
        stop: the array (direction) has its precision, or nothing more can be learnt.
        reason: why it stopped (empty otherwise).
        done: fraction of the fitted devices within both targets.
        gain: summed loss reduction the chosen batch is expected to give.
    """

    amplitude: float
    width: float
    stop: bool
    reason: str
    done: float
    gain: float


def placement_widths(layout: Layout) -> tuple[float, ...]:
    """Widths (s) for placed trials: decades from a hundredth of the nominal width up to the
    die's longest pulse (at most five), so the widths' lever arm on ``ln(t / tau0)`` is as
    long as the limits allow (it separates Delta from Vc0)."""
    lim = layout.limits
    w = max(layout.nominal_pulse.width / 100.0, lim.min_pulse_width)
    out = []
    while w <= lim.max_pulse_width * (1 + 1e-9) and len(out) < 5:
        out.append(float(f"{w:.6g}"))
        w *= 10.0
    return tuple(out) or (float(lim.max_pulse_width),)


def allowed_range(
    layout: Layout, amplitudes: tuple[float, ...], widths: tuple[float, ...]
) -> PulseRange:
    """The pulses a plan with ``amplitudes`` (V) and ``widths`` (s) lets the placement use:
    the plan's widths inside the die's limits, amplitudes between the plan's smallest and
    largest inside the die's limits.

    Raises:
        InvalidRequest: no amplitude or width of the plan is inside the limits.
    """
    lim = layout.limits
    lo = max(min(amplitudes), lim.min_pulse_amplitude)
    hi = min(max(amplitudes), lim.max_pulse_amplitude)
    ws = tuple(w for w in widths if lim.min_pulse_width <= w <= lim.max_pulse_width)
    if not lo <= hi or not ws:
        raise InvalidRequest("the plan leaves no pulse inside the die's limits to place trials at")
    return PulseRange(float(lo), float(hi), ws)


def allowed(
    rng: PulseRange, amplitude: np.ndarray, width: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Candidates moved inside ``rng``: amplitudes clipped to its range, widths not in it
    dropped (with their amplitudes). Returns (amplitudes V, widths s), 1-d."""
    a = np.asarray(amplitude, float).ravel()
    w = np.asarray(width, float).ravel()
    keep = np.isin(w, np.asarray(rng.widths, float)) & np.isfinite(a)
    a = np.clip(a[keep], rng.amp_lo, rng.amp_hi)
    return a, w[keep]


def trial_information(
    amplitude: np.ndarray, width: np.ndarray, theta: np.ndarray, tau0: float, floor: float = 0.0
) -> np.ndarray:
    """Fisher information about ``(a, b)`` of one trial at each candidate for each device:
    ``(c, d, 2, 2)`` for ``c`` candidates (V, s) and ``theta`` ``(d, 2)``."""
    v = np.asarray(amplitude, float)[:, None]
    eta = (
        np.log(np.asarray(width, float) / tau0)[:, None] + theta[None, :, 0] + theta[None, :, 1] * v
    )
    e = np.exp(np.clip(eta, -50.0, 30.0))
    keep = 1.0 - floor
    dmu = keep * e * np.exp(-e)
    mu = keep * -np.expm1(-e)
    fail = floor + keep * np.exp(-e)  # 1 - mu without cancellation
    w = dmu * dmu / np.maximum(mu * fail, 1e-300)
    w = np.where(np.isfinite(w), w, 0.0)
    info = np.empty((*w.shape, 2, 2))
    info[..., 0, 0] = w
    info[..., 0, 1] = info[..., 1, 0] = w * v
    info[..., 1, 1] = w * v * v
    return info


def half_widths(theta: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Relative 90 % interval half-widths of Vc0 and Delta (``(..., )``) from ``theta``
    ``(..., 2)`` and the ``(a, b)`` covariance ``(..., 2, 2)`` (delta method on ``ln Vc0 =
    ln(-a) - ln b`` and ``ln Delta = ln(-a)``)."""
    a, b = theta[..., 0], theta[..., 1]
    caa, cab, cbb = cov[..., 0, 0], cov[..., 0, 1], cov[..., 1, 1]
    var_vc = caa / a**2 - 2 * cab / (a * b) + cbb / b**2
    var_d = caa / a**2
    return Z90 * np.sqrt(np.maximum(var_vc, 0.0)), Z90 * np.sqrt(np.maximum(var_d, 0.0))


def loss(h_vc: np.ndarray, h_d: np.ndarray, target_vc: float, target_delta: float) -> np.ndarray:
    """Per-device loss (2 when both half-widths are within their targets)."""
    return np.maximum(h_vc / target_vc, 1.0) ** 2 + np.maximum(h_d / target_delta, 1.0) ** 2


def _inv2(m: np.ndarray) -> np.ndarray:
    det = m[..., 0, 0] * m[..., 1, 1] - m[..., 0, 1] * m[..., 1, 0]
    out = np.empty_like(m)
    out[..., 0, 0] = m[..., 1, 1] / det
    out[..., 1, 1] = m[..., 0, 0] / det
    out[..., 0, 1] = -m[..., 0, 1] / det
    out[..., 1, 0] = -m[..., 1, 0] / det
    return out


def candidates(
    rng: PulseRange, theta: np.ndarray, tau0: float, grid: tuple[float, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """Candidate pulses (V, s), inside ``rng``: every width x the ``grid`` amplitudes, and per
    width the amplitudes where the devices at :data:`QUANTILES` of their estimated ``P = 0.8``
    amplitude would switch with probability 0.8."""
    eta_star = np.log(-np.log1p(-P_INFORMATIVE))
    amps, widths = [], []
    for w in rng.widths:
        g = np.asarray(grid, float)
        if theta.size:
            v_star = (eta_star - np.log(w / tau0) - theta[:, 0]) / theta[:, 1]
            v_star = v_star[np.isfinite(v_star)]
            if v_star.size:
                g = np.concatenate([g, np.quantile(v_star, QUANTILES)])
        amps.append(g)
        widths.append(np.full(g.shape, w))
    a, wd = allowed(rng, np.concatenate(amps), np.concatenate(widths))
    pairs = np.unique(np.stack([np.round(a, 6), wd], axis=1), axis=0)
    return pairs[:, 0], pairs[:, 1]


def choose_point(
    theta: np.ndarray,
    cov: np.ndarray,
    fitted: np.ndarray,
    rng: PulseRange,
    *,
    tau0: float,
    target_vc: float,
    target_delta: float,
    done_fraction: float,
    batch: int,
    grid: tuple[float, ...] = (),
    floor: float = 0.0,
) -> Choice:
    """The next pulse for ``batch`` trials on an array, or a stop (see the module docstring).

    Args:
        theta, cov: each device's ``(a, b)`` estimate ``(d, 2)`` and posterior covariance
            ``(d, 2, 2)`` (NaN where not fitted).
        fitted: devices to place trials for (``(d,)`` bool; e.g. the fit's status ok).
        rng: the pulses allowed (:func:`allowed_range`).
        tau0: attempt time (s). floor: write-error floor the information assumes.
        target_vc, target_delta: relative 90 % half-widths a device needs (e.g. 0.01).
        done_fraction: fraction of the fitted devices that must be done to stop.
        batch: trials the chosen point will get. grid: amplitudes (V) always considered.
    """
    use = (
        np.asarray(fitted, bool)
        & np.isfinite(theta).all(axis=1)
        & np.isfinite(cov).all(axis=(1, 2))
    )
    use &= theta[:, 1] > 0
    if not use.any():
        return Choice(float("nan"), float("nan"), True, "no device fitted", 0.0, 0.0)
    th, cv = theta[use], cov[use]
    h_vc, h_d = half_widths(th, cv)
    now = loss(h_vc, h_d, target_vc, target_delta)
    done = float(np.mean(now <= 2.0 + 1e-12))
    if done >= done_fraction:
        return Choice(float("nan"), float("nan"), True, "precision reached", done, 0.0)
    amps, widths = candidates(rng, th, tau0, grid)
    precision = _inv2(cv)
    best_gain, best = 0.0, -1
    for k in range(0, amps.size, 32):  # bounded memory: 32 candidates x devices at a time
        info = trial_information(amps[k : k + 32], widths[k : k + 32], th, tau0, floor)
        after = _inv2(precision[None] + batch * info)
        hv, hd = half_widths(th[None], after)
        gain = (now[None] - loss(hv, hd, target_vc, target_delta)).sum(axis=1)
        j = int(np.argmax(gain))
        if gain[j] > best_gain:
            best_gain, best = float(gain[j]), k + j
    if best < 0 or best_gain <= 1e-9 * now.size:
        return Choice(float("nan"), float("nan"), True, "no pulse adds information", done, 0.0)
    return Choice(float(amps[best]), float(widths[best]), False, "", done, best_gain)
