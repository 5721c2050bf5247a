"""A floor on the classifier's fitted spreads from the converter's quantisation.

A converter with step ``q`` (S) reads a conductance ``G`` to within ``+-q / 2``: one reading's
error is uniform, variance ``q^2 / 12`` (Widrow's model), ``(q / G)^2 / 12`` in ln G. On a
coarse converter most devices share one code, and spreads fitted to their readings come out
near 0 (a robust spread of tied values): a device one code away then looks many sigmas off
its level and is called with confidence 1.0. No spread fitted to quantised readings can be
smaller than what the quantisation alone leaves, so each is floored by it.

A device's value is a mean over ``n`` readings. Their quantisation errors average out only as
far as the read noise moves the readings across codes: with read noise ``s`` (S) per reading
the errors of two readings correlate by about ``rho = exp(-2 pi^2 s^2 / q^2)`` (the leading
term of the quantisation error's characteristic function under Gaussian noise; Widrow &
Kollar, *Quantization Noise*, 2008, ch. 5), so the mean's variance is
``(q / G)^2 / 12 x (rho + (1 - rho) / n)``: ``/ n`` for noise much larger than a step, no
averaging for noise much smaller. Used by :mod:`mtj_hil.protocols.defects.classifier`.
"""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols.defects.evidence import Evidence
from mtj_hil.protocols.defects.levels import LevelMixture
from mtj_hil.protocols.defects.rowwise import median


def quantisation_sigma(step: float, g: float, n: float, read_sigma_ln: float) -> float:
    """Sigma (ln G) of a mean of ``n`` quantised readings (step ``step`` S) of a device at
    ``g`` S, with read noise ``read_sigma_ln`` (ln G, per reading); 0 without quantisation."""
    if step <= 0 or not np.isfinite(g) or g <= 0:
        return 0.0
    rel = step / g
    rho = float(np.exp(-2.0 * np.pi**2 * (read_sigma_ln / rel) ** 2))
    return float(rel * np.sqrt((rho + (1.0 - rho) / max(n, 1.0)) / 12.0))


def level_floors(ev: Evidence, mu_p: float, mu_ap: float, cycles: int) -> tuple[float, float]:
    """Quantisation sigmas (ln G) of a device's P and AP levels (means over its readings of
    each state, ``ev.n_valid / 2``) at the die's median levels ``mu_p``, ``mu_ap`` (ln S)."""
    if ev.step <= 0:
        return 0.0, 0.0
    n = median(np.asarray(ev.n_valid)[np.asarray(ev.n_valid) > 0]) / 2.0
    per_read = ev.cycle_sigma * np.sqrt(max(n / max(cycles, 1), 1.0))
    return (
        quantisation_sigma(ev.step, float(np.exp(mu_p)), n, per_read),
        quantisation_sigma(ev.step, float(np.exp(mu_ap)), n, per_read),
    )


def floored(mix: LevelMixture, sigma: float) -> LevelMixture:
    """The mixture with no component spread below ``sigma``."""
    return LevelMixture(mix.weights, mix.means, np.maximum(mix.sigmas, sigma))


FLIP_QUANTILE = 0.01
"""A device's cycles are taken for one-code flips only where one code at its level is below
this quantile of the contrasts of the devices that switched cleanly."""
_TIE = 1e-6
"""Relative tolerance of "one code" (float rounding of ln ratios of whole codes)."""


def code_flips(
    d: np.ndarray, x_p: np.ndarray, x_ap: np.ndarray, step: float, contrasts: np.ndarray
) -> np.ndarray:
    """Devices that moved by one converter code in some cycle and by no more in any: every
    cycle's contrast ``|d|`` (``(cycles, *S)``, ln G) at most ``ln((k + 1) / k)`` at the
    lower of its codes ``k`` (from its mean levels ``x_p``, ``x_ap``, ln S), where that is
    below the :data:`FLIP_QUANTILE` quantile of ``contrasts`` (the mean contrasts of the
    devices that switched cleanly); none without quantisation (``step`` 0).

    A stuck device whose level sits at a code's edge reads the code above now and then: a
    cycle of it moves by one whole code, many read-noise sigmas on a coarse converter, as a
    switch would. Where the die's switches are larger than one code, such a device shows
    nothing a stuck one would not; counted among the devices that switched in some cycle,
    its unswitched cycles were read as failed writes clustering on a few devices
    (correlation 0.95 on 9-bit dies), which made every stuck device's "a good device whose
    writes all failed" likely. Where a switch is itself one code (7 bits: P and AP one code
    apart) no device is taken for one."""
    c = np.asarray(contrasts, dtype=float)
    c = c[np.isfinite(c)]
    if step <= 0 or c.size == 0:
        return np.zeros(np.shape(x_p), bool)
    with np.errstate(invalid="ignore", divide="ignore"):
        g = np.exp(np.fmin(x_p, x_ap))
        k = np.maximum(np.floor(g / step * (1.0 + _TIE)), 1.0)  # (3 codes: not 2.9999999)
        one = np.log1p(1.0 / k) * (1.0 + _TIE)
        size = np.abs(np.where(np.isfinite(d), d, 0.0))
        within = (size <= one[None]).all(axis=0) & (size > _TIE).any(axis=0)
    return np.isfinite(g) & within & (one < np.quantile(c, FLIP_QUANTILE))
