"""Switching a coarse converter hides at the read voltage, seen at the bias read voltage.

A good device whose P and AP levels share one code at the read voltage ``V1`` shows no
switch there (:mod:`mtj_hil.protocols.defects.hidden`). The bias signature's second read at
``V2`` (2-3 x ``V1``) passes 2-3 x the current through the same converter: one code is 2-3
x smaller against the device's level, so the two states of such a device mostly read
different codes there (8 bits, 0.1 / 0.3 V: code 2 in both states at ``V1``, codes 7 and 5
at ``V2``). Per cycle its high-voltage contrast

    ``h_c = ln(G_P(V2) / G_AP(V2)) = b_P,c - b_AP,c + d_c``

(``b`` the per-cycle bias signatures, ``d_c`` the low-voltage contrast) is a second,
finer switching test. Its law is fitted to the devices seen to switch
(:func:`fit_high_contrast`): a good device's ``h_c ~ N(m, s^2 + sigma^2)``, or ``N(0,
sigma^2)`` in a cycle whose write failed; a device that does not switch reads one level
twice, ``h_c ~ N(0, sigma^2)`` (or, rarely, a jumpy device, ``JUMP_WIDTH`` times wider).
``sigma`` is the cycle-to-cycle noise of ``h_c`` of the switchers, floored by the
quantisation of two reads at ``V2`` (Widrow: ``step / G`` over ``sqrt 6``, one code
``step / G`` at the device's own level): a device that does not switch and flips one code
between the two reads stays within 2.5 sigma. The log likelihood ratio of switched to
not switched (:func:`high_switch_lr`) is what the classifier adds to a hidden good
device's evidence. Used by :mod:`mtj_hil.protocols.defects.classifier`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.defects.bias_signature import BiasEvidence
from mtj_hil.protocols.defects.contrast import deconvolve, lognorm
from mtj_hil.protocols.defects.evidence import robust_sigma
from mtj_hil.protocols.defects.hidden import CodeLaws, hidden_good_ll
from mtj_hil.protocols.defects.rowwise import median

JUMP_SHARE = 0.01
JUMP_WIDTH = 4.0
"""Share of devices whose two reads scatter, and by how many noise sigmas (as the
classifier's low-voltage switching test allows)."""
MIN_FIT = 10
"""Fewer switchers with high-voltage contrasts than this and the test is not used."""


@dataclass(frozen=True)
class HighContrast:
    """The high-voltage contrast law of the die's switchers (ln G).

    Attributes:
        m, s: median and spread between devices of ``h`` (read noise removed).
        noise: cycle-to-cycle noise of one ``h_c`` (before the quantisation floor).
        step: the converter step (S) of the high-voltage reads, 0 if not quantised.
        n_fit: switchers the law is fitted to.
    """

    m: float
    s: float
    noise: float
    step: float
    n_fit: int

    def as_model(self) -> dict:
        return {
            "high_contrast_median": self.m,
            "high_contrast_sigma": self.s,
            "high_contrast_noise": self.noise,
            "high_step": self.step,
            "n_fit": self.n_fit,
        }


def per_cycle(bias: BiasEvidence, d: np.ndarray) -> np.ndarray:
    """``h_c`` per cycle, ``d.shape`` (``(cycles, *flat)``: the classifier's layout)."""
    shape = d.shape
    return (
        np.asarray(bias.per_cycle_p).reshape(shape)
        - np.asarray(bias.per_cycle_ap).reshape(shape)
        + d
    )


def fit_high_contrast(bias: BiasEvidence, d: np.ndarray, clean: np.ndarray) -> HighContrast | None:
    """The high-voltage contrast law from the ``clean`` switchers (flat ``(n_arr, n)``);
    ``d``: the low-voltage per-cycle contrasts ``(cycles, n_arr, n)``. None when fewer than
    :data:`MIN_FIT` switchers have a valid high-voltage contrast or the switchers do not
    switch at the high voltage (median ``h`` not above 3 noise sigmas)."""
    h = per_cycle(bias, d)
    n = np.isfinite(h).sum(axis=0)
    use = clean & (n > 0)
    if int(use.sum()) < MIN_FIT:
        return None
    mean = np.where(use, np.nansum(np.where(np.isfinite(h), h, 0.0), axis=0) / np.maximum(n, 1), 0)
    rep = use & (n >= 2)
    noise = 0.0
    if int(rep.sum()) >= MIN_FIT:
        scale = np.sqrt(n / np.maximum(n - 1, 1))
        r = ((h - mean[None]) * scale[None])[:, rep]
        noise = float(robust_sigma(r[np.isfinite(r)]))
    n_typ = median(n[use])
    m = median(mean[use])
    s = deconvolve(robust_sigma(mean[use]), noise / np.sqrt(max(n_typ, 1.0)))
    if not np.isfinite(m) or m <= 3.0 * max(noise, 1e-12) / np.sqrt(max(n_typ, 1.0)):
        return None
    return HighContrast(float(m), float(s), noise, float(bias.step), int(use.sum()))


def high_switch_lr(
    hc: HighContrast,
    bias: BiasEvidence,
    d: np.ndarray,
    level: np.ndarray,
    devices: np.ndarray,
    failure: float,
) -> np.ndarray:
    """Log likelihood ratio, switched over not switched, of each device's high-voltage
    contrasts (flat ``(n_arr, n)``; 0 outside ``devices`` and for devices without one).

    ``level``: the device's mean ln G at the low voltage (S), ``failure`` the per-cycle
    write failure probability of a good device. A good device's contrast is drawn per
    cycle (the cycles taken as independent: a device of consistently small contrast is
    scored somewhat against switching, the safe side)."""
    h = per_cycle(bias, d)
    have = np.isfinite(h) & devices[None]
    hz = np.where(have, h, 0.0)
    b = np.asarray(bias.b_ap).reshape(devices.shape)
    g_high = np.exp(level + np.where(np.isfinite(b), b, 0.0))  # the lower (AP) level at V2
    floor = 0.0
    if hc.step > 0:
        floor = hc.step / np.maximum(g_high, 1e-300) / np.sqrt(6.0)
    sig = np.maximum(floor, max(hc.noise, 1e-6))[None] * np.ones(h.shape)
    e = float(np.clip(failure, 1e-9, 0.5))
    tot = np.sqrt(hc.s * hc.s + sig * sig)
    good = np.logaddexp(np.log1p(-e) + lognorm(hz, hc.m, tot), np.log(e) + lognorm(hz, 0.0, sig))
    stuck = np.logaddexp(
        np.log1p(-JUMP_SHARE) + lognorm(hz, 0.0, sig),
        np.log(JUMP_SHARE) + lognorm(hz, 0.0, JUMP_WIDTH * sig),
    )
    return np.where(have, good - stuck, 0.0).sum(axis=0)


def seen_at_high_voltage(
    laws: CodeLaws,
    bias: BiasEvidence,
    bias_ll: np.ndarray,
    ev: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray],
    clean: np.ndarray,
    failure: float,
    odd: tuple[float, float],
) -> tuple[np.ndarray, dict | None]:
    """The log likelihood ``(n_arr, n)`` of "a good device whose switch the read voltage
    hid", with its bias evidence (``-inf`` where not applicable).

    ``laws``: the die's code laws; ``bias_ll`` the classes' log likelihoods of the bias
    signature; ``ev`` = ``(d, x_p, x_ap, lv_p, ll_stuck)``: per-cycle low-voltage contrasts
    ``(cycles, n_arr, n)``, mean ln G (S) after P and AP writes, the P level log density and
    the log likelihood of the low-voltage contrasts of a device that does not switch;
    ``odd`` = ``(share, span)`` of good devices at odd levels.

    A device reading one code ``k > 0`` in both states: its low-voltage reads and level as
    in :func:`~mtj_hil.protocols.defects.hidden.hidden_good_ll`, its signature that of one
    level read twice, as a stuck device's (``bias_ll[..., STUCK_AP]``), except that its
    states differ at the high voltage: the likelihood ratio of :func:`high_switch_lr`. With
    that test its level may also be an odd good device's (``odd``): the level laws, fitted
    to the few codes of a coarse converter, do not rule out a good device at an odd code
    more surely than the classifier's odd share does, and the switch at the high voltage is
    then the evidence that decides. The test also covers devices whose codes tie in some
    cycles only (a P level at a code's edge, read in the AP code now and then): their
    low-voltage reads count as a stuck device's, their level as a good device's P level.
    Where the die gives no high-voltage contrast law (:func:`fit_high_contrast`): the
    hidden good device with the good signature ``bias_ll[..., GOOD]``. Also returns the law
    (for the model record; None then)."""
    d, x_p, x_ap, lv_p, ll_stuck = ev
    hc = fit_high_contrast(bias, d, clean)
    if hc is None:
        return hidden_good_ll(laws, ll_stuck) + bias_ll[..., GOOD], None
    share, span = odd
    same = laws.same & (laws.k > 0)
    with np.errstate(invalid="ignore"):
        lit = np.isfinite(x_ap) & (np.exp(x_ap) > 0.5 * hc.step)  # not the bottom code
        tied = lit & ~same & (d == 0.0).any(axis=0)
    test = same | tied
    lr = high_switch_lr(hc, bias, d, x_ap, test, failure)
    level = np.logaddexp(np.log1p(-share) + lv_p, np.log(share) - np.log(span))
    hid = hidden_good_ll(laws, ll_stuck, share, span)
    low = np.where(same, hid, np.where(tied, ll_stuck + level, -np.inf))
    return np.where(test, low + bias_ll[..., STUCK_AP] + lr, -np.inf), hc.as_model()


GOOD, STUCK_AP = 0, 4
