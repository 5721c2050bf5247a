"""Thermal-activation fits of switching counts, per device and per array.

Model (the one the simulator follows): a pulse of amplitude V and width t switches a device
with probability ``P = (1 - f) (1 - exp(-t / tau))``, ``tau = tau0 exp(Delta (1 - V / Vc0))``,
where ``f`` is a write-error floor. With ``eta = ln(t / tau0) + a + b V``, ``a = -Delta`` and
``b = Delta / Vc0``, ``1 - P/(1-f) = exp(-exp(eta))``: a binomial model with complementary
log-log link, linear in (a, b). ``tau0`` cannot be told apart from Delta (only
``ln tau0 + Delta`` enters), so it is assumed (1 ns unless given) and stated in the results.

Per-device fits are maximum a-posteriori with a weak Gaussian prior on (a, b) centred on
the array's population (half its magnitude as standard deviation), solved by Fisher scoring
for all devices at once. Uncertainties come from the inverse of the posterior information
(Laplace approximation); with few trials the prior dominates and the stated uncertainty is
correspondingly wide. Devices that never switched are reported and not fitted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats

Z90 = 1.6448536269514722
"""Half-width of a 90 % normal interval in standard deviations."""

STATUS_OK = 0
STATUS_FEW_TRIALS = 1
STATUS_NEVER_SWITCHED = 2
STATUS_NO_DATA = 3
STATUS_NO_RISE = 4
"""Fitted, but its switching probability does not rise with amplitude (slope <= 0): no Vc0."""
STATUS_NAMES = {0: "ok", 1: "few trials", 2: "never switched", 3: "no data", 4: "no rise"}

METHOD_SYSTEMATIC = 0.004
"""Relative systematic uncertainty added to population medians of Vc0 and Delta.

It stands for a real, understood bias, not noise: closure tests on simulated dies with a
per-device truth (``scripts/bench_switching.py``, 36 dies x 1 array x 2 directions, default
plan with 16 trials per point) put the median of the fitted devices at +0.29 +- 0.05 % of
their true median for Delta and -0.08 +- 0.02 % for Vc0. The Delta bias is the small-sample
bias of maximum-likelihood (here MAP) coefficients of a binomial model, which shrinks as
1 / trials: with 64 trials per point it falls to +0.09 +- 0.08 % (median) and the mean
per-device error from +0.52 % to +0.13 %. It is not prior shrinkage (the prior is centred on
the median device, which it cannot move). A Firth-penalised fit (Jeffreys prior, tried on
4 dies x 2 directions at 16 trials) removes the mean bias (+0.52 % -> -0.09 %) but, as the
estimates' noise is skewed, turns the median bias from +0.30 % to -0.30 %, so it is not
used; a median-bias-reducing fit would be the fix. Until then this term covers the bias for
plans of about 16 trials per point or more, and under-covers plans with far fewer trials."""

SPREAD_FLOOR = 0.01
"""Absolute systematic (relative-spread units) added to the stated Delta device spread.

On a lot without any Delta spread (``bench_switching.py --delta-sigma 0``, 36 dies x 1
array x 2 directions) the fitted spread is 0.8 +- 0.1 %, not 0: the per-device Delta
estimates scatter about 2 % more (in variance) than their stated uncertainties say, and
the noise subtraction leaves that excess as a spread. Small against real spreads (10 %
comes out as 9.95 +- 0.3 %), but it would be a false detection of a spread on a uniform
lot, so spreads below about 1 % are stated as not resolved by this term."""

MIN_TRIALS = 24
"""Devices with fewer valid trials in total are fitted but flagged as ``few trials``."""


@dataclass
class DeviceFit:
    """Per-device fit of one direction; arrays of shape ``(n_devices,)``.

    ``vc`` in V, ``delta`` dimensionless; ``*_sd`` are standard uncertainties; NaN where the
    device was not fitted (see ``status``). ``cov`` is the (a, b) covariance ``(n, 2, 2)``.
    """

    vc: np.ndarray
    vc_sd: np.ndarray
    delta: np.ndarray
    delta_sd: np.ndarray
    theta: np.ndarray
    cov: np.ndarray
    status: np.ndarray
    n_trials: np.ndarray


def _attempts(
    amplitude: np.ndarray, width: np.ndarray, vc: np.ndarray, delta: np.ndarray, tau0: float
) -> np.ndarray:
    """Expected thermally activated switching events in the pulse, ``(width / tau0) *
    exp(-delta * (1 - amplitude / vc))``, its exponent capped at 50 (V, s)."""
    eta = np.log(np.asarray(width) / tau0) - delta * (1.0 - np.asarray(amplitude) / vc)
    return np.exp(np.minimum(eta, 50.0))


def switch_probability(
    amplitude: np.ndarray,
    width: np.ndarray,
    vc: np.ndarray,
    delta: np.ndarray,
    tau0: float,
    floor: float = 0.0,
) -> np.ndarray:
    """P(switch) of the model (broadcasting over all arguments; V, s)."""
    return (1.0 - floor) * -np.expm1(-_attempts(amplitude, width, vc, delta, tau0))


def write_error_rate(
    amplitude: np.ndarray,
    width: np.ndarray,
    vc: np.ndarray,
    delta: np.ndarray,
    tau0: float,
    floor: float = 0.0,
) -> np.ndarray:
    """1 - P(switch), computed without cancellation for rates far below 1e-16."""
    miss = np.exp(-_attempts(amplitude, width, vc, delta, tau0))
    return floor + (1.0 - floor) * miss


def _posterior(theta, k, n, offset, volts, floor, prior_mean, prior_prec):
    """Log posterior, gradient and information for all devices: theta (d, 2), k/n (p, d).

    Computed in log space (no clipping of probabilities), so the likelihood has no flat
    regions where its gradient would still point somewhere.
    """
    eta = offset[:, None] + theta[None, :, 0] + theta[None, :, 1] * volts[:, None]
    eta = np.clip(eta, -50.0, 30.0)
    e = np.exp(eta)
    log_keep = np.log1p(-floor) if floor > 0 else 0.0
    p_raw = -np.expm1(-e)  # P(switch | no floor), > 0 for every finite eta
    log_mu = log_keep + np.log(p_raw)
    log_fail = np.logaddexp(np.log(floor), log_keep - e) if floor > 0 else -e
    r_mu = e * np.exp(-e) / p_raw  # d log(mu) / d eta
    r_fail = -e * np.exp(log_keep - e - log_fail)  # d log(1 - mu) / d eta
    loglik = (k * log_mu + (n - k) * log_fail).sum(axis=0)
    score = k * r_mu + (n - k) * r_fail
    w = n * r_mu * -r_fail
    d = theta - prior_mean
    lp = loglik - 0.5 * (d * d * prior_prec).sum(axis=1)
    grad = np.stack([score.sum(0), (score * volts[:, None]).sum(0)], axis=1) - prior_prec * d
    info = np.empty((theta.shape[0], 2, 2))
    info[:, 0, 0] = w.sum(0) + prior_prec[:, 0]
    info[:, 0, 1] = info[:, 1, 0] = (w * volts[:, None]).sum(0)
    info[:, 1, 1] = (w * volts[:, None] ** 2).sum(0) + prior_prec[:, 1]
    return lp, grad, info


def _prior(theta: np.ndarray) -> tuple[tuple[float, float], tuple[float, float]]:
    """A weak prior on (a, b) around ``theta``: half its magnitude (plus one) as spread."""
    a, b = float(theta[0]), float(theta[1])
    return (a, b), (0.5 * abs(a) + 1.0, 0.5 * abs(b) + 1.0)


def _map_fit(k, n, offset, volts, floor, prior, iterations):
    """Fisher scoring with step halving, all devices at once; returns (theta, information)."""
    n_dev = k.shape[1]
    mean, sd = prior
    theta = np.tile(np.array(mean, float), (n_dev, 1))
    pm = theta.copy()
    pp = np.tile(1.0 / np.array(sd, float) ** 2, (n_dev, 1))
    lp, grad, info = _posterior(theta, k, n, offset, volts, floor, pm, pp)
    for _ in range(iterations):
        step = np.linalg.solve(info, grad[..., None])[..., 0]
        moving = (grad * step).sum(axis=1) > 1e-9  # predicted log-posterior gain
        if not moving.any():
            break
        scale = np.ones(n_dev)
        for _half in range(12):
            cand = theta + (scale * moving)[:, None] * step
            lp_c, grad_c, info_c = _posterior(cand, k, n, offset, volts, floor, pm, pp)
            better = lp_c >= lp - 1e-12
            if (better | ~moving).all():
                break
            scale = np.where(better, scale, scale * 0.5)
        take = (better & moving)[:, None]
        theta = np.where(take, cand, theta)
        lp = np.where(take[:, 0], lp_c, lp)
        grad = np.where(take, grad_c, grad)
        info = np.where(take[..., None], info_c, info)
    return theta, info


def fit_devices(
    amplitude: np.ndarray,
    width: np.ndarray,
    trials: np.ndarray,
    switched: np.ndarray,
    *,
    tau0: float = 1e-9,
    floor: float = 0.0,
    prior_mean: tuple[float, float] | None = None,
    prior_sd: tuple[float, float] | None = None,
    iterations: int = 60,
) -> DeviceFit:
    """Fit Vc0 and Delta for every device from counts at grid points of one direction.

    Args:
        amplitude, width: the points (V, s), shape ``(p,)``.
        trials, switched: counts, shape ``(p, d)`` (devices flattened).
        tau0: assumed attempt time (s). floor: write-error floor to assume.
        prior_mean, prior_sd: prior on (a, b) = (-Delta, Delta / Vc0); default: centred on
            the median device of a first pass, half its magnitude (plus one) as spread.
    """
    amplitude = np.asarray(amplitude, float)
    offset = np.log(np.asarray(width, float) / tau0)
    k = np.asarray(switched, float)
    n = np.asarray(trials, float)
    n_dev = k.shape[1]
    total_n, total_k = n.sum(0), k.sum(0)
    status = np.full(n_dev, STATUS_OK, np.uint8)
    status[total_n < MIN_TRIALS] = STATUS_FEW_TRIALS
    status[(total_k == 0) & (total_n > 0)] = STATUS_NEVER_SWITCHED
    status[total_n == 0] = STATUS_NO_DATA
    fit_me = status <= STATUS_FEW_TRIALS
    if prior_mean is None or prior_sd is None:
        # Empirical Bayes in two passes: a pooled curve starts it (its Delta is too low, as
        # the device spread broadens the pooled S-curve), then the prior is re-centred on
        # the median device so that it does not pull the population.
        pooled = pooled_fit(amplitude, width, n[:, fit_me], k[:, fit_me], tau0=tau0, floor=floor)
        first = _map_fit(k, n, offset, amplitude, floor, _prior(pooled), min(iterations, 15))[0]
        centre = np.nanmedian(first[fit_me], axis=0) if fit_me.any() else pooled
        prior_mean, prior_sd = _prior(centre)
    theta, info = _map_fit(k, n, offset, amplitude, floor, (prior_mean, prior_sd), iterations)
    cov = np.linalg.inv(info)
    a, b = theta[:, 0], theta[:, 1]
    delta = -a
    vc = np.where(b > 0, -a / np.where(b > 0, b, 1.0), np.nan)
    g_a, g_b = -1.0 / b, a / b**2
    vc_var = g_a**2 * cov[:, 0, 0] + 2 * g_a * g_b * cov[:, 0, 1] + g_b**2 * cov[:, 1, 1]
    out = DeviceFit(
        vc=vc,
        vc_sd=np.sqrt(np.maximum(vc_var, 0.0)),
        delta=delta,
        delta_sd=np.sqrt(np.maximum(cov[:, 0, 0], 0.0)),
        theta=theta,
        cov=cov,
        status=status,
        n_trials=total_n.astype(np.int64),
    )
    # a device whose fitted curve does not rise with amplitude has no Vc0: not "ok"
    out.status[(status == STATUS_OK) & ~(np.isfinite(vc) & np.isfinite(delta))] = STATUS_NO_RISE
    for name in ("vc", "vc_sd", "delta", "delta_sd"):
        getattr(out, name)[~fit_me] = np.nan
    out.theta[~fit_me] = np.nan
    return out


def pooled_fit(
    amplitude: np.ndarray,
    width: np.ndarray,
    trials: np.ndarray,
    switched: np.ndarray,
    *,
    tau0: float = 1e-9,
    floor: float = 0.0,
) -> np.ndarray:
    """(a, b) of one curve fitted to the summed counts of all devices (a starting point)."""
    n = np.asarray(trials, float).sum(axis=1, keepdims=True)
    k = np.asarray(switched, float).sum(axis=1, keepdims=True)
    offset = np.log(np.asarray(width, float) / tau0)
    theta = np.array([[-20.0, 20.0]])
    prec = np.array([[1e-6, 1e-6]])
    mean = theta.copy()
    lp, grad, info = _posterior(
        theta, k, n, offset, np.asarray(amplitude, float), floor, mean, prec
    )
    for _ in range(200):
        step = np.linalg.solve(info, grad[..., None])[..., 0]
        scale = 1.0
        for _half in range(30):
            cand = theta + scale * step
            lp_c, grad_c, info_c = _posterior(
                cand, k, n, offset, np.asarray(amplitude, float), floor, mean, prec
            )
            if lp_c[0] >= lp[0] - 1e-12:
                break
            scale *= 0.5
        theta, lp, grad, info = cand, lp_c, grad_c, info_c
        if np.abs(step * scale).max() < 1e-8:
            break
    return theta[0]


@dataclass
class FloorEstimate:
    """Write-error floor from failures where the model says every device switches."""

    value: float
    low: float
    high: float
    failures: int
    trials: int


def estimate_floor(
    amplitude: np.ndarray,
    width: np.ndarray,
    trials: np.ndarray,
    switched: np.ndarray,
    fit: DeviceFit,
    tau0: float,
    saturation: float = 1e-9,
) -> FloorEstimate:
    """Pool the failures of fitted devices at points where their fitted curve leaves less than
    ``saturation`` chance of failing: those failures measure the floor. 90 % Clopper-Pearson
    interval."""
    ok = fit.status == STATUS_OK
    miss = write_error_rate(
        np.asarray(amplitude)[:, None],
        np.asarray(width)[:, None],
        fit.vc[None],
        fit.delta[None],
        tau0,
    )
    use = ok[None] & (miss < saturation)
    n = int(np.asarray(trials)[use].sum())
    fails = int((np.asarray(trials) - np.asarray(switched))[use].sum())
    if n == 0:
        return FloorEstimate(float("nan"), 0.0, 1.0, 0, 0)
    low = float(stats.beta.ppf(0.05, fails, n - fails + 1)) if fails > 0 else 0.0
    high = float(stats.beta.ppf(0.95, fails + 1, n - fails)) if fails < n else 1.0
    return FloorEstimate(fails / n, low, high, fails, n)


def device_spread(values: np.ndarray, sds: np.ndarray) -> tuple[float, float, float]:
    """Device-to-device standard deviation of a parameter with the fit noise removed.

    Maximum likelihood for ``values[i] ~ N(m, s^2 + sds[i]^2)`` (each device's own fit
    variance), over the finite values within five robust sigmas of the median. Returns
    ``(s, sd of s, m)`` in the units of ``values``; ``sd of s`` from the Fisher information
    of ``s^2`` (for ``s`` near 0 it is the square root of that of ``s^2``, an upper scale).
    NaN for fewer than three values.
    """
    v, e = np.ravel(values).astype(float), np.ravel(sds).astype(float)
    ok = np.isfinite(v) & np.isfinite(e)
    v, e = v[ok], e[ok]
    if v.size < 3:
        return float("nan"), float("nan"), float("nan")
    med = float(np.median(v))
    robust = 1.4826 * float(np.median(np.abs(v - med)))
    keep = np.abs(v - med) <= 5 * np.hypot(robust, float(np.median(e))) + 1e-300
    v, e2 = v[keep], e[keep] ** 2
    s2, m = max(robust**2 - float(np.median(e2)), 0.0), med
    for _ in range(100):
        w = 1.0 / (s2 + e2)
        m = float(np.sum(w * v) / np.sum(w))
        new = max(float(np.sum(w * w * ((v - m) ** 2 - e2)) / np.sum(w * w)), 0.0)
        done = abs(new - s2) <= 1e-10 * max(s2, 1e-30)
        s2 = new
        if done:
            break
    w = 1.0 / (s2 + e2)
    s2_sd = float(np.sqrt(2.0 / np.sum(w * w)))
    s = float(np.sqrt(s2))
    s_sd = s2_sd / (2 * s) if s2 > s2_sd else float(np.sqrt(s2_sd))
    return s, s_sd, m


def unshrunk_delta(
    vc: np.ndarray, delta: np.ndarray, cov: np.ndarray, status: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Per-device Delta with the pull of the fit's prior removed, and its likelihood-only
    standard uncertainty (NaN where not fitted).

    The MAP fits shrink every device towards the array's centre, which narrows the spread
    of the estimates (closure tests: per-device Delta against the truth has slope about
    0.97 and the spread came out about 5 % low). Under the Laplace approximation the
    likelihood's own optimum is ``theta + C_lik P (theta - mu)`` with ``C_lik = (I - P)^-1``,
    ``I`` the posterior information and ``P``, ``mu`` the prior (re-centred here on the
    median fitted device, as :func:`fit_devices` centres it). Use it for spreads, not as the
    device's best estimate (that is the MAP).
    """
    vc, delta = np.ravel(vc), np.ravel(delta)
    cov = np.reshape(cov, (-1, 2, 2))
    ok = (np.ravel(status) == STATUS_OK) & np.isfinite(delta) & np.isfinite(vc)
    out, out_sd = np.full(delta.shape, np.nan), np.full(delta.shape, np.nan)
    if not ok.any():
        return out, out_sd
    theta = np.stack([-delta[ok], delta[ok] / vc[ok]], axis=1)
    mean, sd = _prior(np.median(theta, axis=0))
    prec = np.diag(1.0 / np.asarray(sd, float) ** 2)
    c_lik = _inv2(_inv2(cov[ok]) - prec)
    # A device the prior dominates has no likelihood optimum to speak of: keep its MAP.
    sane = np.isfinite(c_lik).all(axis=(1, 2)) & (c_lik[:, 0, 0] > 0)
    mle = theta + np.einsum("nij,jk,nk->ni", c_lik, prec, theta - np.asarray(mean))
    d = np.where(sane, -mle[:, 0], delta[ok])
    d_sd = np.where(sane, np.sqrt(np.abs(c_lik[:, 0, 0])), np.sqrt(cov[ok][:, 0, 0]))
    out[ok], out_sd[ok] = d, d_sd
    return out, out_sd


def _inv2(m: np.ndarray) -> np.ndarray:
    """Inverses of a stack of 2 x 2 matrices ``(n, 2, 2)``, NaN where one is singular (a
    device the data cannot place: an extreme ``tau0`` or a flat response made
    ``np.linalg.inv`` raise for the whole array)."""
    a, b, c, d = m[:, 0, 0], m[:, 0, 1], m[:, 1, 0], m[:, 1, 1]
    with np.errstate(divide="ignore", invalid="ignore"):
        det = a * d - b * c
        inv = np.stack([np.stack([d, -b], -1), np.stack([-c, a], -1)], -2) / det[:, None, None]
    inv[~(np.isfinite(det) & (det != 0))] = np.nan
    return inv


def population(
    vc: np.ndarray,
    vc_sd: np.ndarray,
    delta: np.ndarray,
    delta_sd: np.ndarray,
    status: np.ndarray,
    cov: np.ndarray | None = None,
) -> dict[str, float]:
    """Median Vc0 (V) and Delta of the fitted devices with standard uncertainties of the
    medians, and the device-to-device relative spreads ``vc_sigma_rel``, ``delta_sigma_rel``
    with the fit noise removed (:func:`device_spread`) and their uncertainties
    ``*_sigma_rel_sd``. With the fits' (a, b) covariances ``cov`` the Delta spread is taken
    from :func:`unshrunk_delta` (without, it comes out a few percent low)."""
    ok = np.asarray(status).ravel() == STATUS_OK
    n = int(ok.sum())
    if n == 0:
        return {"n": 0}
    out: dict[str, float] = {"n": n}
    if cov is not None:
        d_spread, d_spread_sd = unshrunk_delta(vc, delta, cov, status)
    else:
        d_spread, d_spread_sd = delta, delta_sd
    pairs = (("vc", vc, vc_sd, vc, vc_sd), ("delta", delta, delta_sd, d_spread, d_spread_sd))
    for name, v, sd, sv, ssd in pairs:
        v, sd = np.ravel(v)[ok], np.ravel(sd)[ok]
        med = float(np.median(v))
        spread = 1.4826 * float(np.median(np.abs(v - med)))
        out[name] = med
        stat = 1.2533 * max(spread, float(np.median(sd))) / np.sqrt(n)
        out[f"{name}_sd"] = float(np.hypot(stat, METHOD_SYSTEMATIC * med))
        s, s_sd, _ = device_spread(np.ravel(sv)[ok], np.ravel(ssd)[ok])
        out[f"{name}_sigma_rel"] = s / med if med else float("nan")
        floor = SPREAD_FLOOR if name == "delta" else 0.0
        out[f"{name}_sigma_rel_sd"] = float(np.hypot(s_sd / med, floor)) if med else float("nan")
    return out


def interval_coverage(estimate: np.ndarray, sd: np.ndarray, truth: np.ndarray) -> float:
    """Fraction of 90 % intervals ``estimate +- 1.645 sd`` that contain ``truth`` (NaN skipped)."""
    e, s, t = (np.asarray(x, float).ravel() for x in (estimate, sd, truth))
    keep = np.isfinite(e) & np.isfinite(s) & np.isfinite(t)
    if not keep.any():
        return float("nan")
    return float(np.mean(np.abs(e[keep] - t[keep]) <= Z90 * s[keep]))
