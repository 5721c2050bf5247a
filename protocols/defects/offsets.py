"""Per-output-line sense offsets, estimated from the good devices of each line and removed.

A sense amplifier or converter channel with an offset current ``o`` adds ``o / V`` to every
conductance read on its output line at read voltage ``V``. Devices are multiplicative
(``ln G`` Gaussian, P and AP correlated through the device's size), an offset is additive
in linear conductance: on one line, the offset ``u = o / V`` that makes the line's good
devices most typical of the die's (ln G_P, ln G_AP) distribution is its maximum-likelihood
estimate. The contrast ``ln(G_P - u) - ln(G_AP - u)``, nearly the same for every device
whatever its size, carries most of that information, the levels the rest.

Whether the lines really differ is a held-out check: each line's offset is estimated from
its even and from its odd rows, and only an agreement between the halves (which noise and a
misfit of the model cannot make) counts. Offsets are then removed, shrunk by the share of
their variance the halves agree on, so a die without offsets is left as it was. Vectorised
over lines (a coarse grid search refined by Newton steps); used by :func:`mtj_hil.protocols.defects.reads.classify_reads`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.defects.rowwise import median, nanmedian

GRID = 97
"""Trial offsets of a full grid search over the offsets' range (the reference the coarse grid
and Newton steps are checked against)."""
COARSE = 9
"""Trial offsets per line of the coarse grid that brackets the maximum for Newton's steps."""
NEWTON_STEPS = 10
"""At most this many safeguarded Newton steps per line after the coarse grid."""
TOL = 1e-3
"""Newton stops once every line's step is below this fraction of its standard error."""
MIN_DEVICES = 5
"""A line needs this many good devices for an estimate of its own (else 0)."""
SIGNIFICANCE = 4.0
"""The halves' agreement must exceed its standard error this many times for the offsets to
be removed."""
LOGLIK_BLOCK = 65536
"""Numbers per work array of the grid likelihood (a few arrays at a time, in cache)."""
Q_TRIM = 16.0
"""Devices farther than this (squared Mahalanobis distance) from the die's distribution after
the first pass are left out (odd devices: partial switching, telegraph noise, pinholes)."""


@dataclass
class LineOffsets:
    """Estimated offsets of the output lines, ``(n_arr, cols)``.

    Attributes:
        u: offset in conductance units at the (low) read voltage (S), relative to the die's
            mean offset (which cannot be told from a different TMR), and with the levels
            alone also to each array's (which cannot be told from a drift); 0 where not
            estimated.
        se: standard error of ``u`` from the line's own devices (S); inf where not estimated.
        z: the half-line agreement in units of its standard error (significance).
        applied: whether the offsets were significant and removed.
        shrink: factor applied to ``u``: ``S / (S + N)`` from the halves (0 when not applied).
        spread: estimated true spread of the offsets between lines (S).
        method: "joint" (levels and contrast) or "contrast" (contrast alone), or "none".
    """

    u: np.ndarray
    se: np.ndarray
    z: float
    applied: bool
    shrink: float
    spread: float = 0.0
    method: str = "none"

    def as_model(self, read_voltage: float | None) -> dict:
        """JSON-able summary (offset currents in A if the read voltage is known)."""
        scale = read_voltage if read_voltage else 1.0
        unit = "A" if read_voltage else "S at the read voltage"
        est = np.isfinite(self.se)
        return {
            "applied": self.applied,
            "significance_z": self.z,
            "method": self.method,
            "spread": self.spread * scale,
            "shrink": self.shrink,
            "unit": unit,
            "rms": float(np.sqrt(np.mean(np.square(self.u[est])))) * scale if est.any() else 0.0,
            "offsets": (self.u * scale * (self.shrink if self.applied else 0.0)).tolist(),
        }


def estimate_line_offsets(
    g_p: np.ndarray,
    g_ap: np.ndarray,
    good: np.ndarray,
    high: tuple[np.ndarray, np.ndarray] | None = None,
    ratio: float | None = None,
) -> LineOffsets:
    """Offsets of every output line from the good devices' mean conductances.

    The estimators (the joint level-and-contrast likelihood; the contrast alone; with reads
    at a second voltage, the bias signature) are each run on the even and on the odd rows
    of every line; the agreement of the two halves
    measures the offsets' true spread ``S`` (their product averages to it: the halves' noise
    is independent), their difference the estimate's noise ``N``. The estimator that
    predicts its other half better is kept, and its full-line estimates are applied if
    ``S`` is significant, shrunk by ``S / (S + N)``.

    Args:
        g_p, g_ap: mean conductance (S) after P and AP writes, ``(n_arr, rows, cols)``.
        good: devices that switched cleanly (their state is known), same shape.
        high: the same means read at the second (higher) voltage, if measured.
        ratio: low over high read voltage (an offset current adds ``o / V``: the second
            voltage sees ``ratio`` times the offset in conductance).
    """
    g_p, g_ap = np.asarray(g_p, float), np.asarray(g_ap, float)
    n_arr, rows, cols = g_p.shape
    use = good & np.isfinite(g_p) & np.isfinite(g_ap) & (g_p > 0) & (g_ap > 0)
    none = LineOffsets(np.zeros((n_arr, cols)), np.full((n_arr, cols), np.inf), 0.0, False, 0.0)
    if int(use.sum()) < 3 * MIN_DEVICES or rows < 2 * MIN_DEVICES:
        return none
    best = none
    stacks = [g_p, g_ap]
    fits = {
        "joint": lambda g, m: _joint_lines(g[0], g[1], m),
        "contrast": lambda g, m: _contrast_lines(g[0], g[1], m),
    }
    if high is not None and ratio is not None and 0 < ratio < 1:
        h_p, h_ap = (np.asarray(a, float) for a in high)
        use = use & np.isfinite(h_p) & np.isfinite(h_ap) & (h_p > 0) & (h_ap > 0)
        stacks += [h_p, h_ap]
        fits["bias signature"] = lambda g, m: _bias_lines(*g, ratio, m)
    # the even and the odd rows of every line, each on its own rows only (a fit's sums and
    # medians run over the devices in its mask, so the rows outside add nothing)
    halves = [([a[:, k::2].copy() for a in stacks], use[:, k::2].copy()) for k in (0, 1)]
    chosen = None
    for method, fit in fits.items():
        u_a, se_a = fit(*halves[0])
        u_b, se_b = fit(*halves[1])
        both = np.isfinite(se_a) & np.isfinite(se_b)
        if int(both.sum()) < 4:
            continue
        # A common offset looks like a different TMR (or bias law): only differences count.
        # From the levels, a shift of a whole array is also drift or a gradient across the
        # die, so they take differences within an array; the bias signature does not move
        # with temperature or position (both reads see them alike), so it keeps the arrays'.
        per_array = method != "bias signature"
        ca, cb = _centred(u_a, both, per_array), _centred(u_b, both, per_array)
        prod = ca[both] * cb[both]
        signal = float(prod.mean())
        diff = ca[both] - cb[both]
        noise = float(np.mean(diff**2)) / 4.0
        z = signal / max(float(prod.std()) / np.sqrt(prod.size), 1e-30)
        shrink = signal / (signal + noise) if signal > 0 else 0.0
        if shrink > best.shrink or best.method == "none":
            # the full-line fit of the best method only (it does not take part in the choice)
            best = LineOffsets(
                best.u,
                best.se,
                z,
                bool(z > SIGNIFICANCE),
                float(np.clip(shrink, 0.0, 1.0)),
                float(np.sqrt(max(signal, 0.0))),
                method,
            )
            chosen = fit, per_array
    if chosen is not None:
        fit, per_array = chosen
        u, se = fit(stacks, use)
        est = np.isfinite(se)
        best.u, best.se = np.where(est, _centred(u, est, per_array), 0.0), se
    if not best.applied:
        best.shrink = 0.0
    return best


def _centred(u: np.ndarray, est: np.ndarray, per_array: bool) -> np.ndarray:
    """Line offsets ``(n_arr, cols)`` less their array's (or the die's) mean over the
    estimated lines."""
    axis = 1 if per_array else None
    n = est.sum(axis=axis, keepdims=True)
    mean = np.where(est, u, 0.0).sum(axis=axis, keepdims=True) / np.maximum(n, 1)
    return u - mean


def remove_offsets(g: np.ndarray, offsets: LineOffsets, ratio: float = 1.0) -> np.ndarray:
    """Reads ``(..., n_arr, rows, cols)`` with the offsets removed; ``ratio`` is the low read
    voltage over this stack's read voltage (an offset current adds ``o / V``)."""
    if not offsets.applied:
        return g
    return g - (offsets.shrink * ratio) * offsets.u[:, None, :]


def _bias_lines(g_p, g_ap, h_p, h_ap, ratio: float, use: np.ndarray):
    """Per line the offset that gives its good devices the die's bias signature in each
    state: ``b(u) = ln(G_high - ratio u) - ln(G_low - u)`` falls by ``(1 - ratio) u / G`` for
    an offset ``u``, and the signature hardly varies between devices. Weighted least squares
    per line (iterated, the die's median signature measured on corrected values; devices
    beyond 4 robust sigmas left out), with a standard error from the residuals."""
    u = np.zeros((g_p.shape[0], g_p.shape[2]))
    se = np.full(u.shape, np.inf)
    for _ in range(3):
        sums = np.zeros(u.shape)
        weights = np.zeros(u.shape)
        resid2 = np.zeros(u.shape)
        count = np.zeros(u.shape)
        parts = []
        for lo, hi in ((g_p, h_p), (g_ap, h_ap)):
            a, b = lo - u[:, None, :], hi - ratio * u[:, None, :]
            with np.errstate(invalid="ignore", divide="ignore"):
                sig = np.log(b) - np.log(a)
                slope = 1.0 / a - ratio / b  # d sig / d u
            ok = use & np.isfinite(sig) & np.isfinite(slope) & (slope > 0)
            if int(ok.sum()) < MIN_DEVICES:
                return u, se
            centre = median(sig[ok])
            # odd devices are trimmed about their own line's median: a line whose offset is
            # large (its every device far from the die's signature until corrected) is
            # fitted, not left out whole at 0
            line = nanmedian(np.where(ok, sig - centre, np.nan), axis=1)[:, None, :]
            line = np.where(np.isfinite(line), line, 0.0)
            within = np.where(ok, sig - centre - line, np.nan)
            spread = 1.4826 * median(np.abs(within[ok]))
            ok &= np.abs(within) < 4 * max(spread, 1e-6)
            parts.append((sig - centre, slope, ok))
        for dev, slope, ok in parts:
            w = np.where(ok, slope * slope, 0.0)
            sums += np.where(ok, slope * dev, 0.0).sum(axis=1)
            weights += w.sum(axis=1)
            count += ok.sum(axis=1)
        step = np.where(weights > 0, -sums / np.maximum(weights, 1e-300), 0.0)
        for dev, slope, ok in parts:
            with np.errstate(invalid="ignore"):  # (NaN / inf outside ok: not used)
                r = np.where(ok, dev + slope * step[:, None, :], 0.0)
            resid2 += (r * r).sum(axis=1)
        good_line = count >= MIN_DEVICES
        u = np.where(good_line, u + step, 0.0)
        var = resid2 / np.maximum(count - 1, 1)
        se = np.where(good_line, np.sqrt(var / np.maximum(weights, 1e-300)), np.inf)
    return u, se


def _joint_lines(g_p: np.ndarray, g_ap: np.ndarray, use: np.ndarray):
    """Per line the maximum-likelihood offset under the die's bivariate lognormal of
    (G_P, G_AP), refitted once on the corrected values, odd devices trimmed."""
    u = np.zeros((g_p.shape[0], g_p.shape[2]))
    se = np.full(u.shape, np.inf)
    if int(use.sum()) < 3 * MIN_DEVICES:
        return u, se
    scale = median(g_ap[use])
    for _ in range(2):
        if int(use.sum()) < 3 * MIN_DEVICES:
            break  # the trim left too few (quantised levels: most devices sit on one code)
        mu, prec = _distribution(g_p - u[:, None, :], g_ap - u[:, None, :], use)
        u, se = _fit_lines(g_p, g_ap, use, mu, prec, scale)
        use = use & (_distance(g_p - u[:, None, :], g_ap - u[:, None, :], mu, prec) < Q_TRIM)
    return u, se


def _contrast_lines(g_p: np.ndarray, g_ap: np.ndarray, use: np.ndarray):
    """Per line the median of the offsets that give each good device the die's median
    contrast ``delta0``: ``u = (G_P - e^delta0 G_AP) / (1 - e^delta0)`` (iterated, since
    ``delta0`` is measured on corrected values), with a standard error from their spread."""
    u = np.zeros((g_p.shape[0], g_p.shape[2]))
    se = np.full(u.shape, np.inf)
    for _ in range(3):
        a, b = g_p - u[:, None, :], g_ap - u[:, None, :]
        with np.errstate(invalid="ignore", divide="ignore"):
            d = np.log(a) - np.log(b)
        ok = use & np.isfinite(d)
        if int(ok.sum()) < MIN_DEVICES:
            break
        e = float(np.exp(median(d[ok])))
        if e <= 1.0 + 1e-6:
            break
        ui = np.where(ok, (g_p - e * g_ap) / (1.0 - e), np.nan)
        with np.errstate(invalid="ignore"):
            med = nanmedian(ui, axis=1)
            mad = 1.4826 * nanmedian(np.abs(ui - med[:, None, :]), axis=1)
        n = ok.sum(axis=1)
        good_line = (n >= MIN_DEVICES) & np.isfinite(med) & (mad > 0)
        u, before = np.where(good_line, med, 0.0), u
        se = np.where(good_line, 1.2533 * mad / np.sqrt(np.maximum(n, 1)), np.inf)
        if u.tobytes() == before.tobytes():
            break  # a fixed point (to the bit): every further iteration is this one again
    return u, se


def _distance(g_p: np.ndarray, g_ap: np.ndarray, mu: np.ndarray, prec: np.ndarray) -> np.ndarray:
    """Squared Mahalanobis distance of each device's (ln G_P, ln G_AP) from the die's."""
    with np.errstate(invalid="ignore", divide="ignore"):  # a zero reading: infinitely far
        x, y = np.log(g_p) - mu[0], np.log(g_ap) - mu[1]
        q = prec[0, 0] * x * x + 2 * prec[0, 1] * x * y + prec[1, 1] * y * y
    return np.where(np.isfinite(q), q, np.inf)


def _distribution(g_p: np.ndarray, g_ap: np.ndarray, use: np.ndarray):
    """Robust mean and precision matrix of (ln G_P, ln G_AP) over the devices in ``use``."""
    ok = use & (g_p > 0) & (g_ap > 0)
    lp, lap = np.log(g_p[ok]), np.log(g_ap[ok])
    mu = np.array([median(lp), median(lap)])
    dp, dap = lp - mu[0], lap - mu[1]
    s = 1.4826 * np.array([median(np.abs(dp)), median(np.abs(dap))])
    diff = 1.4826 * median(np.abs(dp - dap))
    var_p, var_ap = max(s[0] ** 2, 1e-8), max(s[1] ** 2, 1e-8)
    # covariance from the spread of the difference: var(a - b) = va + vb - 2 cov
    cov = 0.5 * (var_p + var_ap - max(diff**2, 1e-8))
    cov = float(np.clip(cov, -0.999 * np.sqrt(var_p * var_ap), 0.999 * np.sqrt(var_p * var_ap)))
    return mu, np.linalg.inv(np.array([[var_p, cov], [cov, var_ap]]))


def _fit_lines(g_p, g_ap, use, mu, prec, scale):
    """Per line the maximum-likelihood offset: the best of a coarse grid of ``COARSE``
    trials, refined by safeguarded Newton steps inside the coarse cells either side (the
    likelihood's analytic first and second derivatives, vectorised over lines); the standard
    error from the likelihood's analytic curvature at the optimum. Agrees with a ``GRID``-point
    grid refined by a parabola to within 0.01 standard errors (offsets) and 1 % (errors)."""
    rows = np.flatnonzero(use.any(axis=(0, 2)))  # rows no line uses add nothing (halves)
    g_p, g_ap, use = g_p[:, rows], g_ap[:, rows], use[:, rows]
    lo = -0.5 * scale
    hi = max(0.5 * float(np.min(np.where(use, np.minimum(g_p, g_ap), np.inf))), 0.1 * scale)
    trial = np.linspace(lo, hi, COARSE)
    total = _line_loglik(g_p, g_ap, use, mu, prec, trial)
    n = use.sum(axis=1)
    k = total.argmax(axis=-1)
    left = trial[np.maximum(k - 1, 0)]
    right = trial[np.minimum(k + 1, COARSE - 1)]
    u = trial[k]
    with np.errstate(invalid="ignore", divide="ignore"):
        for _ in range(NEWTON_STEPS):
            d1, d2 = _line_derivatives(g_p, g_ap, use, mu, prec, u)
            left = np.where(d1 > 0, u, left)
            right = np.where(d1 > 0, right, u)
            newton = u - d1 / d2
            inside = (d2 < 0) & (newton >= left) & (newton <= right)
            u = np.where(d1 == 0, u, np.where(inside, newton, 0.5 * (left + right)))
            # done when every line's last step was a Newton step below TOL of its se
            if np.all((d1 == 0) | (inside & (np.abs(d1) <= TOL * np.sqrt(-d2)))):
                break
        se = np.where(d2 < 0, 1.0 / np.sqrt(-d2), np.inf)
    ok = (n >= MIN_DEVICES) & np.isfinite(se) & np.isfinite(u)
    return np.where(ok, u, 0.0), np.where(ok, se, np.inf)


def _line_terms(g_p, g_ap, mu, u):
    """Per-device ``a``, ``b``, ``X``, ``Y`` at per-line offsets ``u`` ``(n_arr, cols)``:
    ``a = G_P - u``, ``b = G_AP - u``, ``X = ln a - mu_P``, ``Y = ln b - mu_AP``."""
    a = g_p - u[:, None, :]
    b = g_ap - u[:, None, :]
    x, y = np.log(a) - mu[0], np.log(b) - mu[1]
    return a, b, x, y


def _line_derivatives(g_p, g_ap, use, mu, prec, u):
    """First and second derivative over ``u`` of each line's summed log density,
    ``(n_arr, cols)`` each: with ``dX/du = -1/a``, ``dY/du = -1/b``, a device adds
    ``(p00 X + p01 Y + 1)/a + (p01 X + p11 Y + 1)/b`` to the first and
    ``(p00 X + p01 Y + 1 - p00)/a^2 + (p01 X + p11 Y + 1 - p11)/b^2 - 2 p01/(a b)`` to the
    second."""
    p00, p01, p11 = prec[0, 0], prec[0, 1], prec[1, 1]
    a, b, x, y = _line_terms(g_p, g_ap, mu, u)
    ia, ib = 1.0 / a, 1.0 / b
    s_a = p00 * x + p01 * y + 1.0
    s_b = p01 * x + p11 * y + 1.0
    d1 = s_a * ia + s_b * ib
    d2 = (s_a - p00) * ia * ia + (s_b - p11) * ib * ib - 2.0 * p01 * ia * ib
    d1 = np.where(use, d1, 0.0).sum(axis=1)
    d2 = np.where(use, d2, 0.0).sum(axis=1)
    return d1, d2


def _line_loglik(g_p, g_ap, use, mu, prec, trial) -> np.ndarray:
    """Per line and trial offset the summed log density of the line's devices in ``use``
    (unused devices add 0), ``(n_arr, cols, GRID)``. A few arrays at a time (work arrays of
    about ``LOGLIK_BLOCK`` numbers that stay in cache, trial offsets outside the rows), rows
    no device of the die uses left out, each step computed in place in the order of the
    plain expression ``-0.5 q - ln a - ln b`` and the rows summed one after another, so the
    sums are bit for bit those of the whole grid."""
    n_arr, _, cols = g_p.shape
    rows = np.flatnonzero(use.any(axis=(0, 2)))
    g_p, g_ap, use = g_p[:, rows], g_ap[:, rows], use[:, rows]
    per_array = trial.size * rows.size * cols
    chunk = max(1, min(n_arr, LOGLIK_BLOCK // max(per_array, 1)))
    shape = (chunk, trial.size, rows.size, cols)
    a, b, x, y, t = (np.empty(shape) for _ in range(5))
    p00, c01, p11 = prec[0, 0], 2 * prec[0, 1], prec[1, 1]
    total = np.empty((n_arr, trial.size, cols))
    unused = ~use[:, None]  # (n_arr, 1, rows, cols)
    tr = trial[None, :, None, None]
    with np.errstate(invalid="ignore", divide="ignore"):
        for start in range(0, n_arr, chunk):
            stop = min(start + chunk, n_arr)
            m = stop - start
            a_, b_, x_, y_, t_ = a[:m], b[:m], x[:m], y[:m], t[:m]
            np.subtract(g_p[start:stop, None], tr, out=a_)
            np.subtract(g_ap[start:stop, None], tr, out=b_)
            np.log(a_, out=a_)  # ln a
            np.log(b_, out=b_)  # ln b
            np.subtract(a_, mu[0], out=x_)
            np.subtract(b_, mu[1], out=y_)
            q = np.multiply(p00, x_, out=t_)
            q *= x_
            np.multiply(c01, x_, out=x_)
            x_ *= y_
            q += x_
            np.multiply(p11, y_, out=x_)
            x_ *= y_
            q += x_
            q *= -0.5
            q -= a_
            q -= b_
            bad = ~np.isfinite(q)
            if bad.any():
                q[bad] = -1e12
            skip = unused[start:stop]
            if skip.any():
                np.copyto(q, 0.0, where=skip)
            q.sum(axis=2, out=total[start:stop])
    return total.transpose(0, 2, 1)
