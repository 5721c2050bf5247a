"""Bias signature: tell the state of a device that does not switch from how its conductance
changes with read voltage.

The tunnelling conductance of an MTJ rises with bias, and much more in the AP state than in
the P state (so the TMR falls with |V|); a short (a broken barrier, or a transistor-limited
path) is ohmic. Reading each state at a low voltage ``V1`` and a higher one ``V2`` gives per
device the log ratio ``b = ln(G(V2) / G(V1))``, which depends on the device's state but hardly
on its size, so it separates stuck-P from stuck-AP (and shorts from stuck-P) where the
device-to-device resistance spread makes the levels overlap.

Nothing is assumed about the die: the P and AP distributions of ``b`` are fitted to the
devices that switched (their state is known in every cycle), the read noise of ``b`` to the
spread between their cycles, and the short distribution to the devices whose level already
says "short" with high posterior (an ohmic ``b = 0`` is assumed only when fewer than
``MIN_SHORTS`` such devices exist). Written against plain arrays; used by
:mod:`mtj_hil.protocols.defects.classifier` through one hook.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtj_hil.protocols.chip import Layout
from mtj_hil.protocols.defects.contrast import lognorm
from mtj_hil.protocols.defects.evidence import quantisation_step, robust_sigma, robust_stats
from mtj_hil.protocols.defects.rowwise import median
from mtj_hil.protocols.defects.shared_noise import LowContrast, conditional_difference
from mtj_hil.protocols.errors import ProtocolError

MIN_SHORTS = 5
"""Fewer level-confident shorts than this and the short distribution of ``b`` is taken as
ohmic (centred on 0) instead of fitted."""
SHORT_POSTERIOR = 0.99
"""Level-only posterior a device needs to count as a short for the fit."""
ODD_SHARE = 1e-3
"""Prior share of good devices whose signature is anywhere in the range (pinhole leaks)."""
MIN_REPEATED = 10
"""Fewer switchers measured in two or more cycles than this (a re-measurement of a handful)
and the read noise of the signature is not taken from their spread between cycles."""
MIN_BIAS_FACTOR = 2.0
"""The second read voltage is used by default only if the die allows at least this multiple
of the low read voltage (the signature grows as V2^2 - V1^2)."""
N_CLASSES = 5
GOOD, SHORT, OPEN, STUCK_P, STUCK_AP = range(5)


def default_bias_voltage(layout: Layout, read_voltage: float) -> float | None:
    """The second read voltage (V) to use on a die by default: the die's largest allowed read
    voltage if it is at least ``MIN_BIAS_FACTOR`` x ``read_voltage``, else None (off)."""
    v2 = float(layout.limits.max_read_voltage)
    return v2 if v2 >= MIN_BIAS_FACTOR * read_voltage else None


@dataclass
class BiasEvidence:
    """Per-device bias signature (device shape ``S``).

    Attributes:
        b_p, b_ap: mean over cycles of ``ln(G(V2) / G(V1))`` after P and after AP writes
            (dimensionless; NaN where no valid pair of readings).
        n_p, n_ap: cycles with a valid pair of readings, per state.
        per_cycle_p, per_cycle_ap: ``(cycles, *S)`` the per-cycle log ratios.
        step: conductance step (S) of the high-voltage readings (a coarse converter), 0 if
            they are not quantised.
    """

    b_p: np.ndarray
    b_ap: np.ndarray
    n_p: np.ndarray
    n_ap: np.ndarray
    per_cycle_p: np.ndarray
    per_cycle_ap: np.ndarray
    step: float = 0.0


def gather_bias_evidence(
    g_low_p: np.ndarray, g_low_ap: np.ndarray, g_high_p: np.ndarray, g_high_ap: np.ndarray
) -> BiasEvidence:
    """Bias signature from reads ``(cycles, reads, *S)`` (S) at the low and the high voltage.

    Non-finite or non-positive readings are left out (a cycle counts if both voltages have a
    valid reading).

    Raises:
        ProtocolError: the four stacks do not share one shape.
    """
    stacks = [np.asarray(a, dtype=float) for a in (g_low_p, g_low_ap, g_high_p, g_high_ap)]
    if len({a.shape for a in stacks}) != 1 or stacks[0].ndim < 3:
        raise ProtocolError(
            "low- and high-voltage reads must share a shape (cycles, reads, ...), got "
            + ", ".join(str(a.shape) for a in stacks)
        )
    with np.errstate(invalid="ignore", divide="ignore"), _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)
        ln = [np.where(np.isfinite(a) & (a > 0), np.log(np.abs(a)), np.nan) for a in stacks]
        # (C, *S); one read per cycle: that read (its nanmean, bit for bit)
        cyc = [a[:, 0] if a.shape[1] == 1 else np.nanmean(a, axis=1) for a in ln]
        r_p, r_ap = cyc[2] - cyc[0], cyc[3] - cyc[1]
        n_p, n_ap = np.isfinite(r_p).sum(axis=0), np.isfinite(r_ap).sum(axis=0)
        b_p = np.where(n_p > 0, np.nansum(r_p, axis=0) / np.maximum(n_p, 1), np.nan)
        b_ap = np.where(n_ap > 0, np.nansum(r_ap, axis=0) / np.maximum(n_ap, 1), np.nan)
    step = quantisation_step(np.stack([stacks[2], stacks[3]])[:, 0, 0])
    return BiasEvidence(b_p, b_ap, n_p, n_ap, r_p, r_ap, step)


def bias_log_likelihood(
    ev: BiasEvidence,
    clean: np.ndarray,
    level_post: np.ndarray,
    fit: np.ndarray,
    noise_floor: float = 0.0,
    prepared: PreparedBias | None = None,
) -> tuple[np.ndarray, dict[str, Any]]:
    """Log-likelihood of each device's bias signature under each class, and the fitted model.

    Args:
        ev: the bias evidence (device shape ``S``).
        clean: devices that switched cleanly in every cycle, reshaped ``(n_arr, n)`` (the
            classifier's flat layout; ``S`` must have the same number of devices).
        level_post: ``(n_arr, n, 5)`` posteriors from the level and switching evidence.
        fit: devices taking part in the level fit (not open, valid readings), ``(n_arr, n)``.
        noise_floor: least read noise of one cycle's signature (quantised readings: the
            converter step, which the spread between cycles of a device on one code hides).
        prepared: :func:`prepare_bias` of the same ``ev``, ``clean`` and ``noise_floor``
            (what does not depend on ``level_post``, computed once for several calls).

    Returns:
        ``(n_arr, n, 5)`` log-likelihoods (GOOD, SHORT, OPEN, STUCK_P, STUCK_AP; devices
        without valid pairs get 0) and a JSON-serialisable model.

    Model: a stuck device in state X has one true signature ``t ~ N(mu_X, s_X^2)`` and
    shows it after both writes with read noise (``sigma^2 / n`` per state); a good device
    shows the P signature after P writes and the AP one after AP writes; a short follows the
    short distribution in both; a (resistive) open is ohmic, its spread widened by its own
    scatter between cycles (additive noise on a small current).
    """
    pb = prepared if prepared is not None else prepare_bias(ev, clean, noise_floor)
    if pb is None:
        return np.zeros((*clean.shape, N_CLASSES)), {"used": False, "reason": "too few switchers"}
    sigma = pb.sigma

    # Shorts: fitted to devices the level already calls short with high posterior.
    sure = fit & (np.nan_to_num(level_post[..., SHORT]) > SHORT_POSTERIOR) & pb.finite_all
    if int(sure.sum()) >= MIN_SHORTS:
        n_s = median(pb.n_both[sure])
        mu_s, s_s = pb.centre(pb.b_all[sure], n_s)
        short_source = f"fitted to {int(sure.sum())} devices the level calls short"
    else:
        mu_s, s_s = 0.0, 0.0
        short_source = f"assumed ohmic (b = 0): fewer than {MIN_SHORTS} level-confident shorts"

    mu_p, s_p, mu_ap, s_ap = pb.mu_p, pb.s_p, pb.mu_ap, pb.s_ap
    # A good device with a pinhole leak (ohmic, in parallel) shows a smaller signature in
    # both states: a rare good device may sit anywhere between ohmic and the AP signature.
    span = max(abs(mu_ap - min(mu_s, 0.0)) + 10 * sigma, 1e-3)
    odd = np.log(ODD_SHARE) - pb.have_count * np.log(span)
    ll_good = np.logaddexp(pb.good_main, odd)
    ll = np.stack(
        [
            ll_good,
            pb.shared_ohmic(mu_s, s_s),
            pb.shared_ohmic(0.0, s_s),  # opens are ohmic (interconnect)
            pb.stuck_p,
            pb.stuck_ap,
        ],
        axis=-1,
    )
    if not pb.have_any.all():
        ll = np.where(pb.have_any[..., None], ll, 0.0)
    stuck_n = 2.0 * pb.n_sw
    model = {
        "used": True,
        "quantity": "b = ln(G(V_high) / G(V_low)), dimensionless, mean over cycles per state",
        "read_noise_per_cycle": sigma,
        "read_noise_source": pb.noise_source,
        "n_fit_devices": pb.n_fit,
        "p_median": mu_p,
        "p_sigma_intrinsic": s_p,
        "ap_median": mu_ap,
        "ap_sigma_intrinsic": s_ap,
        "short_median": mu_s,
        "short_sigma_intrinsic": s_s,
        "short_source": short_source,
        "stuck_state_separation_sigma": float(
            abs(mu_ap - mu_p)
            / max(np.hypot(np.hypot(s_p, s_ap), sigma * np.sqrt(2.0 / stuck_n)), 1e-12)
        ),
    }
    return ll, model


@dataclass
class PreparedBias:
    """The part of the bias-signature model that does not depend on the level posteriors:
    read noise, the P and AP signature distributions of the switchers, each device's
    variances and the likelihoods of the classes that do not involve the short fit
    (flat layout ``(n_arr, n)``)."""

    sigma: float
    noise_source: str
    n_fit: int
    n_sw: float
    mu_p: float
    s_p: float
    mu_ap: float
    s_ap: float
    b_all: np.ndarray
    finite_all: np.ndarray
    n_both: np.ndarray
    var_m: np.ndarray
    m: np.ndarray
    ll_diff: np.ndarray
    good_main: np.ndarray
    have_count: np.ndarray
    have_any: np.ndarray
    stuck_p: np.ndarray
    stuck_ap: np.ndarray
    coded: Any = None

    def centre(self, values: np.ndarray, n_eff: float) -> tuple[float, float]:
        """Median and intrinsic spread (read noise of an ``n_eff``-cycle mean removed)."""
        return _centre(values, n_eff, self.sigma)

    def shared(self, mu: float, s: float) -> np.ndarray:
        """Log-likelihood under a class whose one signature shows after both writes."""
        return lognorm(self.m, mu, np.sqrt(s * s + self.var_m)) + self.ll_diff

    def shared_ohmic(self, mu: float, s: float) -> np.ndarray:
        """:meth:`shared` for an ohmic class (short, resistive open), whose level is spread
        evenly in ln G: a device read on one code of a coarse converter at the low voltage
        is scored through that code's bin where ``coded`` is set
        (:class:`~mtj_hil.protocols.defects.code_signature.CodedBins`)."""
        if self.coded is None:
            return self.shared(mu, s)
        return self.coded.ohmic(self, mu, s)


def prepare_bias(
    ev: BiasEvidence, clean: np.ndarray, noise_floor: float = 0.0, low: LowContrast | None = None
) -> PreparedBias | None:
    """What :func:`bias_log_likelihood` computes before the short fit (None: fewer than
    three switchers with a signature). With ``low`` (the switching evidence at the low
    voltage), the P-minus-AP difference is scored given the low-voltage contrast, whose
    reads it shares (:mod:`mtj_hil.protocols.defects.shared_noise`)."""
    flat = lambda a: np.asarray(a).reshape(clean.shape)  # noqa: E731
    b_p, b_ap, n_p, n_ap = flat(ev.b_p), flat(ev.b_ap), flat(ev.n_p), flat(ev.n_ap)
    cycles = ev.per_cycle_p.shape[0]
    use = clean & np.isfinite(b_p) & np.isfinite(b_ap)
    if int(use.sum()) < 3:
        return None

    # Read noise of one cycle's log ratio: spread between cycles of the switchers.
    repeated = use & (n_p >= 2) & (n_ap >= 2)
    if cycles >= 2 and int(repeated.sum()) >= MIN_REPEATED:
        res = []
        for per, b, n in ((ev.per_cycle_p, b_p, n_p), (ev.per_cycle_ap, b_ap, n_ap)):
            pc = np.asarray(per).reshape(cycles, *clean.shape)
            scale = np.sqrt(n / np.maximum(n - 1, 1))
            r = ((pc - b[None]) * scale[None])[:, use & (n >= 2)]
            res.append(r[np.isfinite(r)])
        sigma = robust_sigma(np.concatenate(res))
        noise_source = f"spread between up to {cycles} cycles of the devices that switched"
    else:
        sigma = float("nan")
    if not np.isfinite(sigma) or sigma <= 0:
        # One cycle: all the spread of the switchers is taken as read noise (no intrinsic part).
        sigma = robust_sigma(b_p[use]) * np.sqrt(max(median(n_p[use]), 1.0))
        noise_source = "one cycle: the switchers' whole spread is taken as read noise"
    sigma = max(float(sigma), noise_floor, 1e-6)

    n_sw = median(n_p[use])
    mu_p, s_p = _centre(b_p[use], n_sw, sigma)
    mu_ap, s_ap = _centre(b_ap[use], n_sw, sigma)

    with np.errstate(invalid="ignore"):
        b_all = np.where(
            n_p + n_ap > 0,
            (np.nan_to_num(b_p) * n_p + np.nan_to_num(b_ap) * n_ap) / np.maximum(n_p + n_ap, 1),
            np.nan,
        )

    # A device whose own readings scatter more than the switchers' (additive noise on the
    # small current of a resistive open, a telegraph jump between the two read voltages)
    # has its noise widened by its own scatter, whatever class it is scored under.
    widen = np.clip(_own_variance(ev, clean.shape, cycles) / (sigma * sigma), 1.0, 100.0)
    var_p = widen * sigma * sigma / np.maximum(n_p, 1)
    var_ap = widen * sigma * sigma / np.maximum(n_ap, 1)
    have_p, have_ap = n_p > 0, n_ap > 0
    both = have_p & have_ap
    bp, bap = np.nan_to_num(b_p), np.nan_to_num(b_ap)
    # Shared-signature classes: weighted mean and the P-minus-AP difference are independent.
    var_m = np.where(both, 1.0 / (1.0 / var_p + 1.0 / var_ap), np.where(have_p, var_p, var_ap))
    m = np.where(
        both,
        (bp / var_p + bap / var_ap) * var_m,
        np.where(have_p, bp, bap),
    )
    ll_diff = np.where(both, lognorm(bp - bap, 0.0, np.sqrt(var_p + var_ap)), 0.0)
    ll_good = np.where(have_p, lognorm(bp, mu_p, np.sqrt(s_p**2 + var_p)), 0.0) + np.where(
        have_ap, lognorm(bap, mu_ap, np.sqrt(s_ap**2 + var_ap)), 0.0
    )
    if low is not None:
        shared, good_diff, ok = conditional_difference(
            low, bp - bap, var_p + var_ap, sigma, (mu_p, s_p, mu_ap, s_ap)
        )
        cond = both & ok
        # a good device's mean signature: the weighted mean of its P and AP ones
        w_p, w_ap = var_m / np.maximum(var_p, 1e-300), var_m / np.maximum(var_ap, 1e-300)
        var_good_m = w_p**2 * (s_p**2 + var_p) + w_ap**2 * (s_ap**2 + var_ap)
        good_m = lognorm(m, w_p * mu_p + w_ap * mu_ap, np.sqrt(var_good_m))
        ll_diff = np.where(cond, shared, ll_diff)
        ll_good = np.where(cond, good_m + good_diff, ll_good)
    pb = PreparedBias(
        sigma=sigma,
        noise_source=noise_source,
        n_fit=int(use.sum()),
        n_sw=n_sw,
        mu_p=mu_p,
        s_p=s_p,
        mu_ap=mu_ap,
        s_ap=s_ap,
        b_all=b_all,
        finite_all=np.isfinite(b_all),
        n_both=n_p + n_ap,
        var_m=var_m,
        m=m,
        ll_diff=ll_diff,
        good_main=np.log1p(-ODD_SHARE) + ll_good,
        have_count=have_p.astype(float) + have_ap.astype(float),
        have_any=have_p | have_ap,
        stuck_p=np.empty(0),
        stuck_ap=np.empty(0),
    )
    pb.stuck_p, pb.stuck_ap = pb.shared(mu_p, s_p), pb.shared(mu_ap, s_ap)
    return pb


def _centre(values: np.ndarray, n_eff: float, sigma: float) -> tuple[float, float]:
    """Median and intrinsic spread of signatures ``values``: their robust spread less the
    read noise ``sigma`` of an ``n_eff``-cycle mean."""
    centre, tot = robust_stats(values)  # (the median of the finite values)
    if not np.isfinite(values).all():
        centre = median(values)
    intrinsic = np.sqrt(max(tot * tot - sigma * sigma / n_eff, 0.0))
    return centre, float(intrinsic)


def _own_variance(ev: BiasEvidence, shape: tuple[int, ...], cycles: int) -> np.ndarray:
    """Each device's own variance of one cycle's signature (P and AP pooled about their
    means; 0 with fewer than two cycles)."""
    if cycles < 2:
        return np.zeros(shape)
    res = []
    for per in (ev.per_cycle_p, ev.per_cycle_ap):
        pc = np.asarray(per).reshape(cycles, *shape)
        with np.errstate(invalid="ignore"), _warnings.catch_warnings():
            _warnings.simplefilter("ignore", RuntimeWarning)
            res.append(pc - np.nanmean(pc, axis=0))
    r = np.concatenate(res)
    n = np.isfinite(r).sum(axis=0)
    ss = np.nansum(r * r, axis=0)
    return np.where(n > 2, ss / np.maximum(n - 2, 1), 0.0)
