"""The bias signature without counting the low-voltage read noise twice.

The signature of a state is ``b = ln G(V2) - ln G(V1)``, and the switching contrast is
``d = ln G_P(V1) - ln G_AP(V1)``: both contain the same low-voltage reads. A P read that
came out high by noise raises ``d`` (the device looks as if it switched) and lowers
``b_p`` while raising ``b_ap - b_p`` (the AP signature looks larger than the P one, as a
good device's is). Scored as independent evidence, one noise excursion counts twice: a
stuck device whose low reads happened to differ is called GOOD with confidence, and a good
device whose reads happened to agree looks stuck twice over.

Written in other variables, the two views are independent: the mean signature
``m = (b_p + b_ap) / 2`` does not correlate with ``d`` (the low reads enter with opposite
signs in one and the same sign in the other), and ``b_p - b_ap + d = ln G_P(V2) - ln G_AP(V2)``
is the contrast read at the high voltage alone, ``d_h``. Given ``d``:

- a device that does not switch has ``d_h ~ N(0, v_h)``, where ``v_h`` is the high reads'
  noise (the signature's noise less the low reads' share);
- a good device with contrast ``c ~ N(m_d, s_d^2)`` has ``d_h = c + (b_P - b_AP)`` plus
  noise: the bias law multiplies each state's conductance by its own factor, so its log
  adds the difference of the two states' signatures (``mu_p - mu_ap`` on average, spread
  ``s_p``, ``s_ap``), whatever the device's contrast; so
  ``d_h | d ~ N(E[c | d] + mu_p - mu_ap, Var[c | d] + v_h + s_p^2 + s_ap^2)``.

:func:`conditional_difference` returns these two log-densities; the signature model
(:mod:`mtj_hil.protocols.defects.bias_signature`) uses them in place of the P-minus-AP
difference it would otherwise score as independent of ``d``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.defects.contrast import lognorm

H_SHARE_FLOOR = 0.1
"""The high reads carry at least this share of the signature's noise variance (the
estimate of the low reads' share can exceed the signature's own on a few cycles)."""


@dataclass(frozen=True)
class LowContrast:
    """The switching evidence at the low voltage, flat ``(n_arr, n)``.

    Attributes:
        dbar: mean over cycles of ``d = ln G_P(V1) - ln G_AP(V1)``.
        n_cyc: cycles in that mean.
        sigma: read noise of one cycle's ``ln G`` at the low voltage.
        m_d, s_d: the good devices' contrast, median and intrinsic spread (ln).
    """

    dbar: np.ndarray
    n_cyc: np.ndarray
    sigma: float
    m_d: float
    s_d: float


def conditional_difference(
    low: LowContrast,
    diff: np.ndarray,
    var_diff: np.ndarray,
    sigma_b: float,
    signature: tuple[float, float, float, float],
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Log-densities of the high-voltage contrast ``d_h = diff + dbar`` given the low one,
    ``(shared, good)``, and whether they apply (a finite ``dbar``), all ``(n_arr, n)``.

    ``diff``: ``b_p - b_ap`` per device and ``var_diff`` its read-noise variance (the
    signature's noise per cycle ``sigma_b``, widened by the device's own scatter, over its
    cycles). ``signature``: ``(mu_p, s_p, mu_ap, s_ap)`` of the switchers.
    """
    mu_p, s_p, mu_ap, s_ap = signature
    n = np.maximum(low.n_cyc, 1)
    ok = np.isfinite(low.dbar) & (low.n_cyc > 0) & np.isfinite(diff)
    dbar = np.where(ok, low.dbar, 0.0)
    d_h = np.where(ok, diff, 0.0) + dbar
    # the high reads' share of the difference's noise: the signature's less the low reads'
    var_b = max(sigma_b * sigma_b, 1e-12)
    h_share = max(1.0 - low.sigma**2 / var_b, H_SHARE_FLOOR)
    v_h = np.maximum(var_diff * h_share, 1e-12)
    shared = lognorm(d_h, 0.0, np.sqrt(v_h))
    # a good device: its contrast given the low reads, carried to the high voltage
    v_l = 2.0 * low.sigma**2 / n
    s_d2 = low.s_d**2
    w = s_d2 / np.maximum(s_d2 + v_l, 1e-12)
    mean_c = low.m_d + w * (dbar - low.m_d)
    var_c = w * v_l
    good = lognorm(d_h, mean_c + mu_p - mu_ap, np.sqrt(var_c + v_h + s_p**2 + s_ap**2))
    return shared, good, ok
