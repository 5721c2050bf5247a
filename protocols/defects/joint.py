"""A good device's P level given its switching contrast: the two are not independent.

Per device the classifier sees its mean P level ``x_p`` (mean ln G after P writes over its
``n`` cycles) and its mean log ratio ``dbar = x_p - x_ap`` over the same cycles. For a good
device both are Gaussian about the die's law, and they are correlated twice over:

- **physically**: a device low in ``G_P`` tends to have a smaller contrast (and vice versa);
  the covariance ``c`` of the true level and contrast is fitted to the devices that switched
  cleanly (:func:`level_contrast_cov`);
- **through the read noise**: the same P reads enter both ``x_p`` and ``dbar``, so their
  noises share ``sigma^2 / n`` (``sigma`` the per-cycle read noise of ln G).

Scoring ``dbar`` and ``x_p`` as independent (the contrast's likelihood times the level's)
counts one unlucky run of low P reads twice, and ignores that a low device is expected to
switch less: a good device low in P with a small contrast then looks far more like a stuck-AP
device than it is. :func:`conditional_level_ll` gives the level's log density *given*
``dbar`` (the Gaussian conditional: shifted by ``beta (dbar - m_d)``, its variance reduced by
``cov^2 / var(dbar)``), so the product with the contrast's likelihood is the joint density.
Used by :mod:`mtj_hil.protocols.defects.classifier`.
"""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols.defects.evidence import robust_stats
from mtj_hil.protocols.defects.levels import LevelMixture

MAX_CORRELATION = 0.9
"""The fitted level-contrast correlation is clipped to this magnitude (a few odd devices
must not make the level a deterministic function of the contrast)."""
TRIM_SIGMAS = 5.0
"""Devices further than this many robust sigmas from the centre in level or contrast are
left out of the covariance (telegraph noise, a half-way switch)."""
CLIP_SIGMAS = 3.0
"""The contrast's deviation the level is conditioned on is clipped to this many of its
sigmas."""
_LOG_SQRT_2PI = 0.9189385332046727


def level_contrast_cov(
    resid_p: np.ndarray,
    dbar: np.ndarray,
    n_cyc: np.ndarray,
    clean: np.ndarray,
    cycle_sigma: float,
    sig_p: float,
    s_d: float,
    known: tuple[float, float, float, float] | None = None,
) -> float:
    """Covariance (ln G squared) between the true P level and the true contrast of the good
    devices: the measured covariance of ``resid_p`` (P level about its array's centre) and
    ``dbar`` over the ``clean`` devices, less the read noise they share (``cycle_sigma^2 /
    n`` per device), clipped to a correlation of :data:`MAX_CORRELATION` of the noise-free
    spreads ``sig_p`` and ``s_d``. 0 with fewer than 20 devices. ``known``: the median and
    robust sigma of ``resid_p`` and of ``dbar`` over the clean devices, where the caller has
    them (used when every one of those values is finite)."""
    x, y, n = resid_p[clean], dbar[clean], np.maximum(n_cyc[clean], 1)
    finite = np.isfinite(x) & np.isfinite(y)
    x, y, n = x[finite], y[finite], n[finite]
    if x.size < 20:
        return 0.0
    if known is not None and x.size == int(clean.sum()):  # (nothing was left out)
        mx, rx, my, ry = known
    else:
        (mx, rx), (my, ry) = robust_stats(x), robust_stats(y)
    sx, sy = max(rx, 1e-6), max(ry, 1e-6)
    keep = (np.abs(x - mx) < TRIM_SIGMAS * sx) & (np.abs(y - my) < TRIM_SIGMAS * sy)
    if int(keep.sum()) < 20:
        return 0.0
    x, y, n = x[keep], y[keep], n[keep]
    measured = float(np.mean((x - x.mean()) * (y - y.mean())))
    shared = float(np.mean(cycle_sigma * cycle_sigma / n))
    bound = MAX_CORRELATION * sig_p * s_d
    return float(np.clip(measured - shared, -bound, bound))


def conditional_level_ll(
    x_p: np.ndarray,
    centre: np.ndarray,
    mix: LevelMixture,
    level_noise: float,
    dbar: np.ndarray,
    n_cyc: np.ndarray,
    contrast: tuple[float, float],
    cycle_sigma: float,
    cov_lc: float,
) -> np.ndarray:
    """Log density of each good device's P level ``x_p`` ``(n_arr, n)`` given its mean log
    ratio ``dbar`` (same shape) over its ``n_cyc`` cycles: the die's P level law (``centre``
    per array, mixture ``mix``, read noise ``level_noise`` of a level as the classifier
    scores it) conditioned on the contrast law ``contrast = (m_d, s_d)`` with the level-
    contrast covariance ``cov_lc`` and the per-cycle read noise ``cycle_sigma`` the two
    share. A device without cycles gets the unconditional density."""
    m_d, s_d = contrast
    n = np.maximum(n_cyc, 1).astype(float)
    noise_n = cycle_sigma * cycle_sigma / n
    cov = cov_lc + noise_n  # cov(x_p, dbar): the physics plus the shared P reads
    var_d = s_d * s_d + 2.0 * noise_n
    have = (n_cyc > 0) & np.isfinite(dbar)
    shrink = np.where(have, cov * cov / var_d, 0.0)
    # (a contrast far outside the law, a pinhole's or a half-way switch's, says nothing more
    # about the level than one at CLIP_SIGMAS: the physical law is not extrapolated; the
    # shared noise is, exactly: P reads that were low pulled both down, however far)
    lim = CLIP_SIGMAS * np.sqrt(var_d)
    dev = np.where(have, dbar, m_d) - m_d
    beta_lc, beta_noise = np.where(have, cov_lc / var_d, 0.0), np.where(have, noise_n / var_d, 0.0)
    z = x_p - centre[:, None] - beta_lc * np.clip(dev, -lim, lim) - beta_noise * dev
    out = None
    for w, m, s in zip(mix.weights, mix.means, mix.sigmas, strict=True):
        var = np.maximum(s * s + level_noise * level_noise - shrink, (0.2 * s) ** 2 + 1e-12)
        ll = np.log(w) - 0.5 * (z - m) ** 2 / var - 0.5 * np.log(var) - _LOG_SQRT_2PI
        out = ll if out is None else np.logaddexp(out, ll)
    return out
