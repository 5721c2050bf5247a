"""Per-device defect classification from each device's own switching evidence.

Every device is judged on what it did, not on where its conductance falls against one
die-wide threshold:

1. **Did it switch?** Per write cycle ``c`` the log ratio ``d_c = ln G(after P) - ln G(after
   AP)`` is compared with the read noise (measured from the spread of repeated cycles or
   reads). A device that switched is GOOD whatever its absolute conductance; one that did not
   (``d_c`` within noise of 0 in every cycle) is a defect, or a good device whose writes
   all failed (per-cycle failure rate measured from devices that switched in some cycles).
2. **Where does it sit?** A device that does not switch is told apart by its level ``ln G``:
   the P and AP level distributions are fitted to the devices that switched cleanly (robust
   median and spread, read noise removed, per array where the arrays differ; with noisy
   reads, to the devices a mixture fit of the mean log ratios calls switching, see
   :mod:`mtj_hil.protocols.defects.contrast`); the short distribution and the
   class weights are fitted by expectation-maximisation over all devices (P/AP components
   held fixed); a line that is mostly shorted raises its other devices' short prior; an
   open device reads below a small fraction of the AP level.
3. **How sure?** Bayes' rule over the classes gives each device a posterior. A device whose
   most probable outcome (GOOD, SHORT, OPEN or stuck) stays below ``min_posterior`` is
   ``UNCERTAIN``, with its best guess recorded. Between stuck-P and stuck-AP (both: "does
   not switch, shows this conductance") the more probable is reported with its confidence;
   when the P and AP levels overlap this is flagged, never hidden.

Everything is vectorised over devices; nothing here knows of instruments or simulators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import erf

from mtj_hil.protocols.defects.bias_signature import BiasEvidence, bias_log_likelihood
from mtj_hil.protocols.defects.codes import DEFECT_CLASSES, DefectCode
from mtj_hil.protocols.defects.contrast import (
    bayes_error,
    deconvolve,
    fit_contrast,
    good_loglik,
    lognorm,
    write_failure_rate,
)
from mtj_hil.protocols.defects.evidence import ClassifierSettings, Evidence, robust_sigma
from mtj_hil.protocols.defects.rowwise import row_logaddexp, softmax_rows
from mtj_hil.protocols.errors import ProtocolError

N_CLASSES = len(DEFECT_CLASSES)
"""Posterior axis: :data:`~mtj_hil.protocols.defects.codes.DEFECT_CLASSES` (codes 0..4)."""
GOOD, SHORT, OPEN, STUCK_P, STUCK_AP, UNCERTAIN = (int(c) for c in DefectCode)

SWITCH_SIGMAS = 6.0
"""A cycle whose ``d_c`` exceeds this many noise sigmas counts as a clean switch (for fitting)."""
OPEN_FRACTION = 0.2
"""An open device reads below this fraction of the AP median (or 8 AP sigmas below it)."""
MIN_FIT_DEVICES = 20
"""Fewer devices that switched than this and the die is refused (nothing to fit)..."""
MIN_FIT_FLOOR = 4
"""...unless the die is small: then half its devices, but never fewer than this."""
QUANTISED_FRACTION = 0.05
"""A converter step above this fraction of the P conductance is warned about."""
STRICT_SHARE = 0.9
"""The every-cycle rule is used for the fit only if it keeps this share of the devices
that switch on average (else it would select the largest contrasts only)."""
PER_ARRAY_MIN = 50
"""An array needs this many clean switchers for its own P/AP centres."""
LINE_FRACTION = 0.5
"""A row or column with at least this fraction of shorts is a shorted line: its other
devices get an even prior of being shorts too."""


@dataclass
class Classification:
    """Outcome of :func:`classify_evidence` (arrays of device shape ``S``).

    Attributes:
        codes: ``DefectCode`` per device, ``UNCERTAIN`` (5) where unsettled (uint8).
        best_guess: most probable physical class (0..4) even where ``codes`` is UNCERTAIN.
        confidence: posterior of the reported class (of the best guess for UNCERTAIN).
        posterior: ``(*S, 5)`` posterior over GOOD, SHORT, OPEN, STUCK_P, STUCK_AP.
        model: the fitted model and how it was derived (JSON-serialisable).
        warnings: plain sentences: overlaps (by how much), missing or saturated readings.
        overlap: named overlap figures (probabilities) the warnings quote.
    """

    codes: np.ndarray
    best_guess: np.ndarray
    confidence: np.ndarray
    posterior: np.ndarray
    model: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    overlap: dict[str, float] = field(default_factory=dict)


def classify_evidence(
    ev: Evidence, settings: ClassifierSettings | None = None, bias: BiasEvidence | None = None
) -> Classification:
    """Fit the die's distributions to its own devices and classify every device.

    Device shape ``S`` is ``(rows, cols)`` (one array) or ``(arrays, rows, cols)``. ``bias``
    (reads at a second voltage, :mod:`mtj_hil.protocols.defects.bias_signature`) adds each device's bias
    signature to the evidence.

    Raises:
        ProtocolError: no device (or too few to fit) switched; the message says what was seen.
    """
    s = settings or ClassifierSettings()
    shape = ev.x_p.shape
    n_arr = shape[0] if len(shape) == 3 else 1
    flat = lambda a: np.asarray(a).reshape(n_arr, -1)  # noqa: E731
    x_p, g_lin = flat(ev.x_p), flat(ev.g_lin)
    d = np.asarray(ev.d).reshape(ev.d.shape[0], n_arr, -1)
    cycles = d.shape[0]
    sd = np.sqrt(2.0) * ev.cycle_sigma
    n_cyc = np.isfinite(d).sum(axis=0)
    warnings: list[str] = []
    overlap: dict[str, float] = {}

    ok = flat(ev.n_valid > 0) & ~flat(ev.saturated)
    with np.errstate(invalid="ignore"):
        d_min = np.where(n_cyc > 0, np.nanmin(np.where(np.isfinite(d), d, np.inf), axis=0), np.nan)
        dbar = np.where(n_cyc > 0, np.nansum(np.nan_to_num(d), axis=0) / np.maximum(n_cyc, 1), 0)
    # Fit set: devices that switched cleanly in every cycle. When the read noise is large
    # against the switching contrast that rule keeps only the devices with the largest
    # contrast (a biased sample), so the devices a mixture fit of the mean log ratios gives
    # to the switching component are used instead (with that fit's contrast distribution).
    strict = ok & (n_cyc > 0) & (d_min > SWITCH_SIGMAS * sd)
    with np.errstate(invalid="ignore"):  # opens (far below every level) stay out of the fit
        lit = ok & (g_lin > 0.05 * np.nanmedian(np.where(ok, g_lin, np.nan)))
    m_em, s_em, resp_sw = fit_contrast(dbar, n_cyc, lit, sd)
    # A switching component within 3 noise sigmas of 0 is noise, not switching.
    noise_mean = sd / np.sqrt(max(float(np.median(n_cyc[ok])) if ok.any() else 1.0, 1.0))
    separated = np.isfinite(m_em) and m_em > 3.0 * noise_mean
    average = ok & (n_cyc > 0) & (resp_sw > 0.5) & (dbar > 0) & separated
    need = min(MIN_FIT_DEVICES, max(MIN_FIT_FLOOR, int(np.ceil(0.5 * ok.size))))
    clean, fit_rule = strict, f"switched by > {SWITCH_SIGMAS:g} noise sigmas in every cycle"
    if int(strict.sum()) < STRICT_SHARE * int(average.sum()) or int(strict.sum()) < need:
        clean = average
        fit_rule = "switch on average (mixture fit of the mean log ratios; noisy reads)"
        if int(clean.sum()) < need:
            raise ProtocolError(_nothing_switched(ev, dbar, ok, sd, int(strict.sum())))
        warnings.append(
            f"read noise ({100 * ev.cycle_sigma:.2g} % per cycle) is large against the "
            f"switching contrast: only {int(strict.sum())} of {int(clean.sum())} switching "
            "devices switched clearly in every cycle; the fit uses devices that switch on "
            "average; use more --reads or --cycles"
        )
    n_clean = int(clean.sum())

    # -- fitted distributions of the devices that switched cleanly ----------------------------
    x_ap = flat(ev.x_ap)
    cen_p, sig_p, per_p = _centres(x_p, clean)
    cen_ap, sig_ap, per_ap = _centres(x_ap, clean)
    # Spreads between devices: the measured spreads less the read noise they contain.
    n_typ = float(np.median(n_cyc[clean]))
    if clean is strict:
        m_d = float(np.median(dbar[clean]))
        s_d = deconvolve(robust_sigma(dbar[clean]), sd / np.sqrt(n_typ))
    else:
        m_d, s_d = m_em, s_em
    level_noise = ev.cycle_sigma / np.sqrt(max(cycles, 1))
    sig_p, sig_ap = deconvolve(sig_p, level_noise), deconvolve(sig_ap, level_noise)
    tot_p = float(np.hypot(sig_p, level_noise))
    tot_ap = float(np.hypot(sig_ap, level_noise))
    s_good = float(np.hypot(s_d, sd))
    mu_p_die, mu_ap_die = float(np.median(x_p[clean])), float(np.median(x_ap[clean]))

    # Per-cycle write failure: devices that switched in some cycle but not in another.
    e0 = s.write_failure_prior
    if cycles >= 2:
        e, fails, trials = write_failure_rate(d, ok, clean, sd, m_d, s_good, e0, SWITCH_SIGMAS)
        e_source = (
            f"measured: {fails:.1f} failed of {trials} cycles of devices that switched "
            "(mixture of switched and unswitched cycles)"
        )
    else:
        e = e0
        e_source = "assumed (one cycle: a failed write cannot be told from a stuck device)"
        warnings.append(
            "one write cycle per state: a device that did not switch may be stuck or may have "
            f"failed its only write (assumed failure rate {e:.0e}); such devices are "
            "UNCERTAIN: measure 3 or more cycles"
        )

    # -- log-likelihoods of the switching evidence --------------------------------------------
    dv = np.where(np.isfinite(d), d, 0.0)
    have = np.isfinite(d)
    ll_stuck = np.where(have, lognorm(dv, 0.0, sd), 0.0).sum(axis=0)
    # A good device has one switching contrast delta of its own (drawn from the die's
    # distribution) and shows it in every cycle whose write did not fail; delta is
    # integrated out (see mtj_hil.protocols.defects.contrast.good_loglik).
    ll_good = good_loglik(d, m_d, s_d, sd, e)

    # Devices without a valid reading get a neutral level here; they are UNCERTAIN below.
    x_p = np.where(np.isfinite(x_p), x_p, mu_p_die)
    lv_p = lognorm(x_p, cen_p[:, None], tot_p)
    lv_ap = lognorm(x_p, cen_ap[:, None], tot_ap)
    # ...or every one of its writes failed: then it looks stuck, in either state.
    ll_all_failed = n_cyc * np.log(e) + ll_stuck + np.logaddexp(lv_p, lv_ap) + np.log(0.5)
    switched = ll_good > ll_stuck  # the switching evidence alone favours a good device
    ll_good = np.logaddexp(ll_good + lv_p, ll_all_failed)

    # -- opens: far below every switching level ----------------------------------------------
    open_g = float(np.exp(mu_ap_die) * min(OPEN_FRACTION, np.exp(-8 * tot_ap)))
    is_open = ok & (g_lin < open_g)
    fit = ok & ~is_open

    # -- the short distribution and class weights, by EM over all devices -------------------
    floor_s = mu_p_die + 2.5 * tot_p
    stuck_like = fit & ~switched
    cand = x_p[stuck_like & (x_p > mu_p_die + 4 * tot_p)]
    if cand.size >= 3:
        mu_s, sig_s = float(np.median(cand)), max(robust_sigma(cand), 0.05)
    else:
        mu_s, sig_s = mu_p_die + max(6 * tot_p, 0.5), 0.25
    weights = np.array([0.99, 2e-3, 0.0, 2e-3, 2e-3])
    f_good, f_stuck, f_p, f_ap, f_x = (a[fit] for a in (ll_good, ll_stuck, lv_p, lv_ap, x_p))
    for _ in range(s.em_iterations):
        resp = softmax_rows(_class_ll(f_good, f_stuck, f_p, f_ap, f_x, mu_s, sig_s, weights))
        weights = np.maximum(resp.mean(axis=0), 1e-6)
        weights[OPEN] = 0.0
        r = resp[:, SHORT]
        if r.sum() >= 2:
            xs = f_x
            mu_s = max(float((r * xs).sum() / r.sum()), floor_s)
            var = float((r * (xs - mu_s) ** 2).sum() / r.sum())
            sig_s = float(np.clip(np.sqrt(var), 0.03, 1.0))
    weights, shorts_found = _keep_shorts(
        weights, (f_good, f_stuck, f_p, f_ap, f_x, mu_s, sig_s), int(fit.sum())
    )
    ll = _class_ll(ll_good, ll_stuck, lv_p, lv_ap, x_p, mu_s, sig_s, weights)
    post = softmax_rows(ll)
    bias_model: dict[str, Any] | None = None
    if bias is not None:  # hook: the bias signature (see mtj_hil.protocols.defects.bias_signature)
        bias_ll, bias_model = bias_log_likelihood(bias, clean, post, fit)
        ll = ll + bias_ll
        post = softmax_rows(ll)

    # -- neighbours: a line that is mostly shorted makes its remaining devices likely shorts --
    short_lines = 0
    if len(shape) >= 2:
        rows, cols = shape[-2], shape[-1]
        called = ((post[..., SHORT] > 0.5) & fit).reshape(n_arr, rows, cols)
        on_row = called.mean(axis=2) >= LINE_FRACTION
        on_col = called.mean(axis=1) >= LINE_FRACTION
        on_line = (on_row[:, :, None] | on_col[:, None, :]).reshape(n_arr, -1)
        short_lines = int(on_row.sum() + on_col.sum())
        if short_lines:
            boost = np.log(0.5) - np.log(weights[SHORT])
            ll[..., SHORT] += np.where(on_line, boost, 0.0)
            post = softmax_rows(ll)

    # -- opens, missing and saturated readings -----------------------------------------------
    post[is_open] = np.eye(N_CLASSES)[OPEN]
    gap = ok & ~is_open & (x_p < mu_ap_die - 8 * tot_ap) & ~switched

    codes, best, conf = _decide(post, s.min_posterior)
    codes[gap] = UNCERTAIN
    none = flat(ev.n_valid == 0)
    sat = flat(ev.saturated)
    codes[none | sat] = UNCERTAIN
    best[none] = GOOD
    best[sat] = np.where(flat(ev.saturated_all)[sat], SHORT, GOOD)
    conf[none | sat] = 0.0
    post[none | sat] = np.nan

    # -- overlaps and other warnings ---------------------------------------------------------
    overlap["stuck_state"] = bayes_error(mu_p_die, tot_p, mu_ap_die, tot_ap)
    overlap["short_vs_p"] = bayes_error(mu_p_die, tot_p, mu_s, sig_s)
    overlap["switch_vs_noise"] = float(0.5 * (1 + erf((3 * sd - m_d) / (s_good * np.sqrt(2)))))
    if overlap["stuck_state"] > 0.01:
        warnings.append(
            "P and AP conductances overlap: a device that does not switch is given the wrong "
            f"stuck state with probability {100 * overlap['stuck_state']:.1f} % (levels "
            f"{(mu_p_die - mu_ap_die) / np.hypot(tot_p, tot_ap) * np.sqrt(2):.1f} sigma apart); "
            "each stuck call carries its confidence" + _bias_note(bias_model)
        )
    # Without shorts on the die the short distribution is only a prior guess: no warning.
    if overlap["short_vs_p"] > 0.01 and shorts_found:
        warnings.append(
            "short and P conductances overlap: a non-switching device near the P level is "
            f"confused with a short with probability {100 * overlap['short_vs_p']:.1f} %; "
            "devices the level cannot settle are UNCERTAIN"
        )
    if overlap["switch_vs_noise"] > 1e-3:
        warnings.append(
            f"switching is small against read noise: {100 * overlap['switch_vs_noise']:.2f} % "
            "of good devices switch by less than 3 noise sigmas per cycle; use more reads "
            "or cycles"
        )
    if ev.step > QUANTISED_FRACTION * np.exp(mu_p_die):
        warnings.append(
            f"readings are quantised in steps of {ev.step:.3g} S "
            f"({100 * ev.step / np.exp(mu_p_die):.0f} % of the P level): conductances closer "
            "than a step cannot be told apart and devices reading near zero look open; use a "
            "smaller converter range or more reads"
        )
    n_nan, n_sat = int(np.sum(ev.n_nan)), int(np.sum(ev.saturated))
    if n_nan:
        warnings.append(
            f"{n_nan} readings were NaN (instrument returned no value) and were left out; "
            f"{int(none.sum())} devices had no valid reading and are UNCERTAIN"
        )
    if n_sat:
        warnings.append(
            f"{n_sat} devices read beyond the converter's range (saturated) and are "
            "UNCERTAIN: lower the read voltage or use a larger range"
        )
    if int(gap.sum()):
        warnings.append(
            f"{int(gap.sum())} devices do not switch and read between open and AP levels "
            "(fit no class): UNCERTAIN"
        )
    n_unc = int((codes == UNCERTAIN).sum())
    if n_unc > 1e-3 * codes.size:
        warnings.append(
            f"{n_unc} devices ({100 * n_unc / codes.size:.2f} %) are UNCERTAIN: the evidence "
            "cannot settle them"
        )
    sig_within = float(np.hypot(tot_p, tot_ap) / np.sqrt(2))
    arrays_differ = bool(per_p or per_ap)
    model = {
        "method": (
            "per-device switching evidence + levels fitted to the die's own devices: P and AP "
            f"ln-G distributions = robust median and spread (1.4826 MAD, read noise removed) "
            f"of the {n_clean} devices that "
            + fit_rule
            + (" (centres per array: arrays differ)" if arrays_differ else " (die-wide)")
            + "; switching contrast integrated out per device; write failure rate by EM; short "
            "distribution and class weights by EM over all devices (short class kept only if "
            "it passes BIC; prior 0.5 on "
            f"lines >= {LINE_FRACTION:g} shorted); open below "
            f"min({OPEN_FRACTION:g}, exp(-8 sigma_AP)) x AP median; UNCERTAIN below "
            f"posterior {s.min_posterior:g}"
        ),
        "n_fit_devices": n_clean,
        "cycles": cycles,
        "read_noise_ln": ev.cycle_sigma,
        "read_noise_source": ev.noise_source,
        "median_g_p": float(np.exp(mu_p_die)),
        "median_g_ap": float(np.exp(mu_ap_die)),
        "sigma_ln_p": float(sig_p),
        "sigma_ln_ap": float(sig_ap),
        "centres_per_array": arrays_differ,
        "array_median_g_p": np.exp(cen_p).tolist(),
        "array_median_g_ap": np.exp(cen_ap).tolist(),
        "tmr_ln_median": m_d,
        "tmr_ln_sigma": s_d,
        "write_failure_rate": float(e),
        "write_failure_source": e_source,
        "short_median_g": float(np.exp(mu_s)),
        "short_sigma_ln": float(sig_s),
        "shorts_found": shorts_found,
        "shorted_lines": short_lines,
        "class_weights": {n: float(w) for n, w in zip(_NAMES, weights, strict=True)},
        "open_g": open_g,
        "min_posterior": s.min_posterior,
        "level_sigma_within": sig_within,
        **({"bias_signature": bias_model} if bias_model is not None else {}),
    }
    return Classification(
        codes=codes.reshape(shape),
        best_guess=best.reshape(shape),
        confidence=conf.reshape(shape),
        posterior=post.reshape(*shape, N_CLASSES),
        model=model,
        warnings=warnings,
        overlap=overlap,
    )


_NAMES = tuple(c.name for c in DEFECT_CLASSES)


def _bias_note(bias_model: dict[str, Any] | None) -> str:
    """What the bias signature adds to the level-overlap warning (empty without it)."""
    if not bias_model or not bias_model.get("used"):
        return ""
    sep = bias_model["stuck_state_separation_sigma"]
    return f" (from the levels alone; the bias signature adds {sep:.1f} sigma of separation)"


def short_boundary(model: dict[str, Any]) -> float:
    """Conductance (S) above which a device that does not switch is more likely a short
    than stuck-P under the fitted model (for summaries and reports)."""
    mu_p, s_p = np.log(model["median_g_p"]), model["sigma_ln_p"]
    mu_s, s_s = np.log(model["short_median_g"]), model["short_sigma_ln"]
    w = model["class_weights"]
    x = np.linspace(mu_p, max(mu_s, mu_p + 1e-6), 2001)
    lp = np.log(max(w["STUCK_P"], 1e-12)) + lognorm(x, mu_p, s_p)
    ls = np.log(max(w["SHORT"], 1e-12)) + lognorm(x, mu_s, s_s)
    above = np.flatnonzero(ls > lp)
    return float(np.exp(x[above[0]] if above.size else mu_s))


def _class_ll(ll_good, ll_stuck, lv_p, lv_ap, x_p, mu_s, sig_s, weights) -> np.ndarray:
    """Log prior x likelihood per class, shape ``(*S, 5)`` (OPEN is decided apart)."""
    lv_s = lognorm(np.minimum(x_p, mu_s), mu_s, sig_s)
    with np.errstate(divide="ignore"):
        lw = np.log(weights)
    out = np.stack(
        [
            lw[GOOD] + ll_good,
            lw[SHORT] + ll_stuck + lv_s,
            np.full(x_p.shape, -np.inf),
            lw[STUCK_P] + ll_stuck + lv_p,
            lw[STUCK_AP] + ll_stuck + lv_ap,
        ],
        axis=-1,
    )
    finite = np.isfinite(x_p)
    if finite.all():
        return out
    return np.where(finite[..., None] | (np.arange(N_CLASSES) == OPEN), out, 0.0)


def _keep_shorts(weights: np.ndarray, args: tuple, n: int) -> tuple[np.ndarray, bool]:
    """The class weights, without the short class unless it earns its place.

    A short component fitted by EM can settle on the upper tail of a large stuck-P
    population on a die without shorts. It is kept only if it raises the log likelihood of
    the ``n`` devices by more than its three parameters cost (BIC: 1.5 ln n); else its
    weight is set to ~0 (no device is called a short for lack of a short population).
    """
    with_s = float(row_logaddexp(_class_ll(*args, weights)).sum())
    w0 = weights.copy()
    w0[SHORT] = 1e-9
    w0 /= w0.sum()
    without = float(row_logaddexp(_class_ll(*args, w0)).sum())
    if with_s - without > 1.5 * np.log(max(n, 2)):
        return weights, True
    return w0, False


def _decide(post: np.ndarray, min_posterior: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Codes, best guesses and confidences from posteriors ``(..., 5)``.

    The outcome groups are GOOD, SHORT, OPEN and stuck (P or AP together): if the best group
    is below ``min_posterior`` the device is UNCERTAIN; a stuck device gets its more likely
    state."""
    p = np.nan_to_num(post)
    best = p.argmax(axis=-1).astype(np.uint8)
    stuck = p[..., STUCK_P] + p[..., STUCK_AP]
    group = np.stack([p[..., GOOD], p[..., SHORT], p[..., OPEN], stuck], axis=-1)
    settled = group.max(axis=-1) >= min_posterior
    codes = np.where(settled, best, UNCERTAIN).astype(np.uint8)
    conf = np.take_along_axis(p, best[..., None].astype(np.intp), axis=-1)[..., 0]
    return codes, best, conf


def _centres(x: np.ndarray, clean: np.ndarray) -> tuple[np.ndarray, float, bool]:
    """Per-array centres of ``x`` over ``clean`` devices ``(n_arr, n)``, the pooled robust
    sigma, and whether the arrays differ (else the die-wide median is every centre)."""
    die = float(np.median(x[clean]))
    n_arr = x.shape[0]
    xm = np.where(clean, x, np.nan)
    counts = clean.sum(axis=1)
    with np.errstate(invalid="ignore"):
        med = np.nanmedian(xm, axis=1) if n_arr > 1 else np.array([die])
    med = np.where(counts >= PER_ARRAY_MIN, med, die)
    sigma = robust_sigma((x - med[:, None])[clean])
    differ = False
    if n_arr > 1 and (counts >= PER_ARRAY_MIN).sum() >= 2:
        use = counts >= PER_ARRAY_MIN
        se = 1.2533 * sigma / np.sqrt(counts[use])
        chi = float(np.mean(((med[use] - die) / np.maximum(se, 1e-12)) ** 2))
        differ = chi > 4.0
    if not differ:
        med = np.full(n_arr, die)
        sigma = robust_sigma(x[clean] - die)
    return med, max(float(sigma), 1e-3), differ


def _nothing_switched(ev: Evidence, dbar: np.ndarray, ok: np.ndarray, sd: float, n: int) -> str:
    total = int(np.asarray(ev.n_valid).size)
    n_ok = int(ok.sum())
    parts = [
        f"refusing to classify: only {n} of {total} devices switched cleanly (P/AP log ratio "
        f"above {SWITCH_SIGMAS:g} x the per-cycle noise {sd:.3g} in every cycle)"
    ]
    if n_ok:
        gp = float(np.exp(np.nanmedian(np.asarray(ev.x_p)[np.asarray(ev.n_valid) > 0])))
        ga = float(np.exp(np.nanmedian(np.asarray(ev.x_ap)[np.asarray(ev.n_valid) > 0])))
        parts.append(
            f"median G after P writes {gp:.3g} S, after AP writes {ga:.3g} S, median "
            f"ln ratio {float(np.median(dbar[ok])):.3g}: the devices did not switch; check "
            "the write pulse and the wiring"
        )
    n_sat, n_none = int(np.sum(ev.saturated)), int(np.sum(np.asarray(ev.n_valid) == 0))
    if n_sat:
        parts.append(f"{n_sat} devices saturated the converter (lower the read voltage)")
    if n_none:
        parts.append(f"{n_none} devices gave no valid reading (NaN)")
    return "; ".join(parts)
