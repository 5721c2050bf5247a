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
   centres per array where the arrays differ, a mixture of populations where the data asks
   for one, :mod:`mtj_hil.protocols.defects.levels`; with noisy reads, to the devices a mixture
   fit of the mean log ratios calls switching, :mod:`mtj_hil.protocols.defects.contrast`);
   a good device's P level is scored given its contrast (they correlate, and share the P
   reads' noise, :mod:`mtj_hil.protocols.defects.joint`);
   the short and resistive-open populations and the class weights are fitted by EM over all
   devices (:mod:`mtj_hil.protocols.defects.classes`); a line that is mostly shorted raises
   its other devices' short prior; a device far below every level is a (hard) open.
3. **How sure?** Bayes' rule over the classes gives each device a posterior (with the bias
   signature's likelihood where a second read voltage was measured). A device whose most
   probable outcome (GOOD, SHORT, OPEN or stuck) stays below ``min_posterior`` is
   ``UNCERTAIN``, with its best guess and the competing classes recorded; so is a device on
   which the level and the bias signature each are sure of different classes. The checks
   and warnings are in :mod:`mtj_hil.protocols.defects.diagnostics`.

Everything is vectorised over devices; nothing here knows of instruments or simulators.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy.special import erf

from mtj_hil.protocols.defects import diagnostics as diag
from mtj_hil.protocols.defects.bias_signature import (
    BiasEvidence,
    bias_log_likelihood,
    prepare_bias,
)
from mtj_hil.protocols.defects.classes import (
    N_CLASSES,
    Evidence1D,
    fit_populations,
    normalise,
    short_boundary,
)
from mtj_hil.protocols.defects.code_signature import condition_on_codes
from mtj_hil.protocols.defects.contrast import (
    bayes_error,
    deconvolve,
    write_failure_rate,
)
from mtj_hil.protocols.defects.evidence import ClassifierSettings, Evidence, robust_stats
from mtj_hil.protocols.defects.failures import (
    WriteFailures,
    fit_failure_spread,
    switches_every_cycle,
)
from mtj_hil.protocols.defects.fit_set import SWITCH_SIGMAS, fit_set
from mtj_hil.protocols.defects.hidden import (
    binned_levels,
    bottom_code_ll,
    fit_code_laws,
    hidden_good_ll,
)
from mtj_hil.protocols.defects.high_read import seen_at_high_voltage
from mtj_hil.protocols.defects.joint import conditional_level_ll, level_contrast_cov
from mtj_hil.protocols.defects.jumps import switching_logliks
from mtj_hil.protocols.defects.levels import (
    centres,
    fit_level_mixtures,
    level_loglik,
    total_sigma,
)
from mtj_hil.protocols.defects.messages import reading_warnings
from mtj_hil.protocols.defects.quantisation import code_flips, floored, level_floors
from mtj_hil.protocols.defects.rowwise import median
from mtj_hil.protocols.defects.shared_noise import LowContrast
from mtj_hil.protocols.errors import ProtocolError

__all__ = ["Classification", "classify_evidence", "short_boundary"]

GOOD, SHORT, OPEN, STUCK_P, STUCK_AP, UNCERTAIN = range(6)
OPEN_FRACTION = 0.2
"""A (hard) open reads below this fraction of the AP median (or 8 AP sigmas below it)."""
LINE_FRACTION = 0.5
"""A row or column with at least this fraction of shorts is a shorted line: its other
devices get an even prior of being shorts too."""
RESISTIVE_FLOOR = 1e-3
"""An OPEN device conducting more than this fraction of the AP median is a resistive open."""
SWITCH_FLOOR = 1e-2
"""A device below the open level that switches with the die's contrast is a junction (not
an open) only if it conducts more than this fraction of the AP median: below it the line's
offset and noise, not the device, set the ratio of its reads."""
ODD_SHARE = 1e-3
"""Prior share of good devices that switch with a contrast well below the die's, or read at
an odd level (pinhole leaks, half-way switching): they switch, so they are good."""
TAIL_SIGMAS = 4.0
"""...but a contrast within this many noise sigmas (of a device's mean) of 0 is not taken
for switching."""
LEVEL_SPAN = 12.0
"""Span (in ln G) over which an odd good device's level is spread evenly."""


@dataclass
class Classification:
    """Outcome of :func:`classify_evidence` (arrays of device shape ``S``).

    Attributes:
        codes: ``DefectCode`` per device, ``UNCERTAIN`` (5) where unsettled (uint8).
        best_guess: most probable physical class (0..4) even where ``codes`` is UNCERTAIN.
        confidence: posterior of the reported class (of the best guess for UNCERTAIN).
        posterior: ``(*S, 5)`` posterior over GOOD, SHORT, OPEN, STUCK_P, STUCK_AP.
        model: the fitted model and how it was derived (JSON-serialisable).
        warnings: plain sentences: overlaps (by how much), checks, missing readings.
        overlap: named overlap figures (probabilities) the warnings quote.
        resistive_open: OPEN devices that still conduct (above the hard open level).
    """

    codes: np.ndarray
    best_guess: np.ndarray
    confidence: np.ndarray
    posterior: np.ndarray
    model: dict[str, Any]
    warnings: list[str] = field(default_factory=list)
    overlap: dict[str, float] = field(default_factory=dict)
    resistive_open: np.ndarray | None = None


def classify_evidence(
    ev: Evidence, settings: ClassifierSettings | None = None, bias: BiasEvidence | None = None
) -> Classification:
    """Fit the die's distributions to its own devices and classify every device.

    Device shape ``S`` is ``(rows, cols)`` (one array) or ``(arrays, rows, cols)``. ``bias``
    (reads at a second voltage, :mod:`mtj_hil.protocols.defects.bias_signature`) adds each
    device's bias signature to the evidence.

    Raises:
        ProtocolError: no device (or too few to fit) switched; the message says what was seen.
    """
    s = settings or ClassifierSettings()
    shape = ev.x_p.shape
    n_arr = shape[0] if len(shape) == 3 else 1
    flat = lambda a: np.asarray(a).reshape(n_arr, -1)  # noqa: E731
    x_p, x_ap, g_lin = flat(ev.x_p), flat(ev.x_ap), flat(ev.g_lin)
    d = np.asarray(ev.d).reshape(ev.d.shape[0], n_arr, -1)
    cycles = d.shape[0]
    sd = np.sqrt(2.0) * ev.cycle_sigma
    n_cyc = np.isfinite(d).sum(axis=0)
    warnings: list[str] = []
    ok = flat(ev.n_valid > 0) & ~flat(ev.saturated)
    floor = diag.at_noise_floor(ok, g_lin)  # (before anything is fitted to noise)
    if floor is not None:
        raise ProtocolError(floor)
    dark = _on_dark_lines(ok, g_lin, shape, n_arr)
    clean, fit_rule, dbar, (m_em, s_em) = fit_set(ev, d, n_cyc, ok & ~dark, g_lin, sd, warnings)
    n_clean = int(clean.sum())

    # -- level distributions of the devices that switched cleanly -----------------------------
    cen_p, sig_p, per_p, st_p = centres(x_p, clean)
    cen_ap, sig_ap, per_ap, st_ap = centres(x_ap, clean)
    level_noise = ev.cycle_sigma / np.sqrt(max(cycles, 1))
    coarse = ev.step > 0
    mix_p, mix_ap = fit_level_mixtures(
        [
            ((x_p - cen_p[:, None])[clean], sig_p, st_p.resid_median),
            ((x_ap - cen_ap[:, None])[clean], sig_ap, st_ap.resid_median),
        ],
        level_noise,
        coarse,
    )
    sig_p, sig_ap = deconvolve(sig_p, level_noise), deconvolve(sig_ap, level_noise)
    # no spread below what a coarse converter's quantisation alone leaves
    mu_p_die, mu_ap_die = st_p.die, st_ap.die
    q_p, q_ap = level_floors(ev, mu_p_die, mu_ap_die, cycles)
    sig_p, sig_ap, mix_p, mix_ap = (
        max(sig_p, q_p),
        max(sig_ap, q_ap),
        floored(mix_p, q_p),
        floored(mix_ap, q_ap),
    )
    tot_p, tot_ap = float(np.hypot(sig_p, level_noise)), float(np.hypot(sig_ap, level_noise))
    n_typ = median(n_cyc[clean])
    contrast_stats = None  # (median, robust sigma) of the clean devices' contrasts
    if fit_rule.startswith("switched"):
        contrast_stats = robust_stats(dbar[clean])  # (its median: of the finite ones)
        m_d = contrast_stats[0] if np.isfinite(dbar[clean]).all() else median(dbar[clean])
        s_d = deconvolve(contrast_stats[1], sd / np.sqrt(n_typ))
    else:
        m_d, s_d = m_em, s_em
    s_good = float(np.hypot(s_d, sd))

    open_g = float(np.exp(mu_ap_die) * min(OPEN_FRACTION, np.exp(-8 * tot_ap)))
    ln_open = float(np.log(open_g)) if open_g > 0 else -np.inf  # AP level at the bottom code
    # (not a device below it, yet well above the offsets' and noise's floor, that switches
    # with the die's contrast in every one of 3 or more cycles: a junction a tenth of the
    # size, a trapped telegraph state)
    real = g_lin >= SWITCH_FLOOR * np.exp(mu_ap_die)
    is_open = ok & (g_lin < open_g) & ~(real & switches_every_cycle(d, sd, m_d, s_good))
    is_open |= dark & (g_lin < open_g)
    # -- per-cycle write failure: devices that switched in some cycle but not in another ------
    # (not hard opens: their reads are noise, whose scatter passes for switches and failures)
    lit = ok & ~is_open
    # (nor stuck devices flipping one code at a code's edge: no failed writes of good ones)
    lit_sw = lit & ~code_flips(d, flat(ev.x_p), x_ap, ev.step, dbar[clean])
    # a good device's contrast: N(m_d, s_d), with a tail of small ones down to tail_low
    # (nor one converter step: a quantised stuck device flips a code now and then)
    tail_low = max(TAIL_SIGMAS * sd / np.sqrt(max(n_typ, 1.0)), 2.0 * ev.step / np.exp(mu_ap_die))
    e = s.write_failure_prior
    wf = WriteFailures(e)
    if cycles >= 2:
        e, fails, trials = write_failure_rate(d, lit_sw, clean, sd, m_d, s_good, e, SWITCH_SIGMAS)
        # ...varying between devices (beta-binomial): failures cluster on some devices
        wf = fit_failure_spread(d, lit_sw, sd, m_d, s_d, e, ODD_SHARE, tail_low)
        e = wf.mean  # (refitted with the spread where a spread is kept)
        e_source = (
            f"measured: {fails:.1f} failed of {trials} cycles of devices that switched "
            f"(mixture of switched and unswitched cycles); correlation {wf.rho:.2g} between "
            "a device's cycles (beta-binomial)"
        )
    else:
        e_source = "assumed (one cycle: a failed write cannot be told from a stuck device)"
        warnings.append(
            "one write cycle per state: a device that did not switch may be stuck or may have "
            f"failed its only write (assumed failure rate {e:.0e}); such devices are "
            "UNCERTAIN: measure 3 or more cycles"
        )

    # -- log-likelihoods of the evidence ------------------------------------------------------
    # a device may read jumpily (telegraph noise, a loose contact): the same under either
    # hypothesis (mtj_hil.protocols.defects.jumps)
    ll_good, ll_stuck = switching_logliks(d, sd, m_d, s_d, wf, ODD_SHARE, tail_low)
    x_p = np.where(np.isfinite(x_p), x_p, mu_p_die)  # no valid reading: UNCERTAIN below
    lv_p = level_loglik(x_p, cen_p, mix_p, level_noise)
    lv_ap = level_loglik(x_p, cen_ap, mix_ap, level_noise)
    laws = None  # a coarse converter: the levels and what it hides, over its codes
    if coarse and ok.any():
        laws = fit_code_laws(flat(ev.x_p), x_ap, ok, ev.step, clean, s_d)
        lv_p, lv_ap = binned_levels(laws, lv_p, lv_ap)
    # ...or every one of its writes failed: then it looks stuck, in either state.
    failed = wf.log_all_failed(n_cyc) + ll_stuck + np.log(0.5)
    switched = ll_good > ll_stuck  # the switching evidence alone favours a good device
    # A good device reads at the P level, or (rarely: a pinhole leak) anywhere.
    # ...its P level given its contrast (a low device switches less; the P reads are shared)
    lv_sw, cov_lc = lv_p, 0.0
    if laws is None:
        resid_p = x_p - cen_p[:, None]
        known = None
        if st_p.all_finite and contrast_stats is not None:
            known = (st_p.resid_median, st_p.resid_sigma, *contrast_stats)
        cov_lc = level_contrast_cov(resid_p, dbar, n_cyc, clean, ev.cycle_sigma, sig_p, s_d, known)
        contrast = (m_d, s_d)
        lv_sw = conditional_level_ll(
            x_p, cen_p, mix_p, level_noise, dbar, n_cyc, contrast, ev.cycle_sigma, cov_lc
        )
    lv_good = np.logaddexp(np.log1p(-ODD_SHARE) + lv_sw, np.log(ODD_SHARE) - np.log(LEVEL_SPAN))
    good_parts = (ll_good + lv_good, failed + lv_p, failed + lv_ap)  # switched, failed in P / AP
    ll_good = np.logaddexp(np.logaddexp(*good_parts[:2]), good_parts[2])  # (reduce's order)

    # -- hard opens, then the defect populations and class weights by EM ---------------------
    fit = ok & ~is_open
    e1 = Evidence1D(ll_good, ll_stuck, lv_p, lv_ap, x_p)
    pops = fit_populations(e1.take(fit), switched[fit], mu_p_die, tot_p, ln_open, s.em_iterations)
    level_ll = pops.class_ll(e1)
    ll = level_ll
    post = normalise(ll)
    bias_model: dict[str, Any] | None = None
    conflicts = np.zeros(post.shape[:-1], bool)
    stuck_like = fit & ~switched
    if bias is not None:  # hook: the bias signature (mtj_hil.protocols.defects.bias_signature)
        # A converter step is read noise the signature cannot average away (uniform: /sqrt 12
        # per reading, at both voltages, the high one's step relatively 2-3 x smaller).
        floor = float(np.sqrt(2.0 / 12.0) * ev.step / np.exp(mu_p_die))
        low = LowContrast(dbar, n_cyc, ev.cycle_sigma, m_d, s_d) if laws is None else None
        prepared = prepare_bias(bias, clean, floor, low)
        if laws is not None and prepared is not None:  # the low reads' code, not noise
            prepared = condition_on_codes(prepared, bias, flat(ev.x_p), x_ap, ev.step, clean)
        bias_ll, bias_model = bias_log_likelihood(bias, clean, post, fit, floor, prepared)
        if bias_model.get("used"):
            # Refit the defect populations with both views, then the signature's short fit
            # with the joint posterior: a short population the level alone got wrong (soft
            # shorts under the P tail) is fitted from the devices the signature says are ohmic.
            e1b, extra = _with_bias(e1, good_parts, bias_ll)
            pops = fit_populations(
                e1b.take(fit),
                switched[fit],
                mu_p_die,
                tot_p,
                ln_open,
                s.em_iterations,
                extra=extra[fit],
                start=pops,
            )
            level_ll = pops.class_ll(e1)
            joint = normalise(pops.class_ll(e1b) + extra)
            bias_ll, bias_model = bias_log_likelihood(bias, clean, joint, fit, floor, prepared)
            conflicts = diag.view_conflicts(level_ll, bias_ll, pops.weights, stuck_like)
            e1b, extra = _with_bias(e1, good_parts, bias_ll)
            ll = pops.class_ll(e1b) + extra
        else:
            ll = level_ll + bias_ll
        post = normalise(ll)

    # -- a coarse converter hides switching: the same code after both writes ----------------
    bottom = np.zeros(post.shape[:-1], bool)
    high_model = None
    if laws is not None:
        hid = hidden_good_ll(laws, ll_stuck)
        if bias is not None:  # ...and its switch at the (finer) bias read voltage
            low, odd = (d, x_p, x_ap, lv_p, ll_stuck), (ODD_SHARE, LEVEL_SPAN)
            hid, high_model = seen_at_high_voltage(laws, bias, bias_ll, low, clean, wf.mean, odd)
        ll[..., GOOD] = np.logaddexp(ll[..., GOOD], np.log(pops.weights[GOOD]) + hid)
        ll, bottom = bottom_code_ll(ll, laws.bottom, pops.weights, ll_stuck, laws)
        post = normalise(ll)

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
            boost = np.log(0.5) - np.log(pops.weights[SHORT])
            ll[..., SHORT] += np.where(on_line, boost, 0.0)
            post = normalise(ll)

    # -- decisions: hard opens, conflicts, missing and saturated readings --------------------
    post[is_open & ~bottom] = np.eye(N_CLASSES)[OPEN]
    # Held-out recalibration: stuck calls crowding the side of their level where shorts
    # (above P) or resistive opens (below AP) sit are that many hidden shorts or opens.
    xs_p = flat(ev.x_p)
    ref_p, ref_ap = (st.resid_median if st.all_finite else None for st in (st_p, st_ap))
    tie_p, tie_ap = (0.5 * ev.step / np.exp(mu) for mu in (mu_p_die, mu_ap_die))
    post, pi_p = diag.excess_on_side(
        post, x_p, clean, xs_p, cen_p, STUCK_P, SHORT, True, ref_p, tie_p
    )
    post, pi_ap = diag.excess_on_side(
        post, x_p, clean, x_ap, cen_ap, STUCK_AP, OPEN, False, ref_ap, tie_ap
    )
    codes, best, conf = _decide(post, s.min_posterior)
    codes[conflicts] = UNCERTAIN
    none, sat = flat(ev.n_valid == 0), flat(ev.saturated)
    codes[none | sat] = UNCERTAIN
    best[none] = GOOD
    best[sat] = np.where(flat(ev.saturated_all)[sat], SHORT, GOOD)
    conf[none | sat] = 0.0
    post[none | sat] = np.nan
    resistive = ok & (g_lin > RESISTIVE_FLOOR * np.exp(mu_ap_die)) & (codes == OPEN)

    # -- overlaps, checks and warnings -------------------------------------------------------
    overlap = {
        "stuck_state": diag.mixture_bayes_error(mu_p_die, mix_p, mu_ap_die, mix_ap, level_noise),
        "short_vs_p": bayes_error(mu_p_die, tot_p, pops.mu_s, pops.sig_s),
        "switch_vs_noise": float(0.5 * (1 + erf((3 * sd - m_d) / (s_good * np.sqrt(2))))),
    }
    checks = {
        "posterior": diag.posterior_check(post, codes, stuck_like | is_open),
        "held_out": diag.held_out_levels(x_p, codes, clean, flat(ev.x_p), x_ap, cen_p, cen_ap),
        "view_conflicts": int(conflicts.sum()),
        "hidden_share": {"SHORT among STUCK_P": pi_p, "OPEN among STUCK_AP": pi_ap},
        "view_compared": int(stuck_like.sum()) if bias_model and bias_model.get("used") else 0,
    }
    overlap["expected_wrong_calls"] = checks["posterior"]["expected_wrong"] / max(
        checks["posterior"]["called"], 1
    )
    warnings += diag.warnings_for(overlap, checks, pops.shorts_found, _bias_note(bias_model))
    warnings += reading_warnings(ev, overlap, sd, m_d, mu_p_die, codes, none, resistive, e)
    model = {
        "method": (
            "per-device switching evidence + levels fitted to the die's own devices: P and AP "
            f"ln-G distributions = robust median and spread (1.4826 MAD, read noise removed) "
            f"of the {n_clean} devices that "
            + fit_rule
            + (" (centres per array: arrays differ)" if per_p or per_ap else " (die-wide)")
            + f", {mix_p.components} / {mix_ap.components} populations (BIC)"
            + "; switching contrast integrated out per device; write failure rate by EM; short "
            "and resistive-open populations and class weights by EM over all devices (each "
            "kept only if it passes BIC; prior 0.5 on "
            f"lines >= {LINE_FRACTION:g} shorted); hard open below "
            f"min({OPEN_FRACTION:g}, exp(-8 sigma_AP)) x AP median; UNCERTAIN below "
            f"posterior {s.min_posterior:g} or where level and bias signature disagree"
        ),
        "n_fit_devices": n_clean,
        "cycles": cycles,
        "read_noise_ln": ev.cycle_sigma,
        "read_noise_source": ev.noise_source,
        "median_g_p": float(np.exp(mu_p_die)),
        "median_g_ap": float(np.exp(mu_ap_die)),
        "sigma_ln_p": float(sig_p),
        "sigma_ln_ap": float(sig_ap),
        "level_mixture_p": mix_p.as_model(),
        "level_mixture_ap": mix_ap.as_model(),
        "centres_per_array": bool(per_p or per_ap),
        "array_median_g_p": np.exp(cen_p).tolist(),
        "array_median_g_ap": np.exp(cen_ap).tolist(),
        "tmr_ln_median": m_d,
        "tmr_ln_sigma": s_d,
        "level_contrast_correlation": cov_lc / max(sig_p * s_d, 1e-12),
        "write_failure_rate": float(e),
        "write_failure_correlation": wf.rho,
        "write_failure_source": e_source,
        **pops.as_model(),
        "shorted_lines": short_lines,
        "open_g": open_g,
        "min_posterior": s.min_posterior,
        "level_sigma_within": float(
            np.hypot(total_sigma(mix_p, level_noise), total_sigma(mix_ap, level_noise)) / np.sqrt(2)
        ),
        "checks": checks,
        **({"bias_signature": bias_model} if bias_model is not None else {}),
        **({"high_voltage_contrast": high_model} if high_model is not None else {}),
    }
    return Classification(
        codes=codes.reshape(shape),
        best_guess=best.reshape(shape),
        confidence=conf.reshape(shape),
        posterior=post.reshape(*shape, N_CLASSES),
        model=model,
        warnings=warnings,
        overlap=overlap,
        resistive_open=resistive.reshape(shape),
    )


def _with_bias(e1: Evidence1D, good_parts, bias_ll: np.ndarray):
    """The evidence with the bias signature folded into the GOOD class, and the signature's
    log-likelihoods of the other classes. A good device either switched (it shows the P
    signature after P writes, the AP one after AP writes) or had every write fail (then it
    shows one state's signature throughout, as a stuck device does)."""
    sw, fail_p, fail_ap = good_parts
    good = np.logaddexp(sw + bias_ll[..., GOOD], fail_p + bias_ll[..., STUCK_P])
    good = np.logaddexp(good, fail_ap + bias_ll[..., STUCK_AP])  # (logaddexp.reduce's order)
    extra = bias_ll.copy()
    extra[..., GOOD] = 0.0
    return Evidence1D(good, e1.stuck, e1.lv_p, e1.lv_ap, e1.x), extra


def _bias_note(bias_model: dict[str, Any] | None) -> str:
    """What the bias signature adds to the level-overlap warning (empty without it)."""
    if not bias_model or not bias_model.get("used"):
        return ""
    sep = bias_model["stuck_state_separation_sigma"]
    return f" (the bias signature adds {sep:.1f} sigma of separation)"


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


def _on_dark_lines(ok: np.ndarray, g_lin: np.ndarray, shape: tuple, n_arr: int) -> np.ndarray:
    """Devices far below the die's level (under :data:`OPEN_FRACTION` of the median) on a
    row or column where at least :data:`LINE_FRACTION` of the devices are: an open line.
    No read of theirs is the device's own: on a passive array the sneak currents through
    the rest of the array change as it is written, and passed for the die's contrast (whole
    open columns were called GOOD at confidence 1, a second GOOD population 100 x below
    the first). ``(n_arr, devices)`` like ``ok``; none for a single line of devices."""
    if len(shape) < 2 or not ok.any():
        return np.zeros_like(ok)
    rows, cols = shape[-2], shape[-1]
    level = float(np.median(g_lin[ok]))
    dim = (ok & (g_lin < OPEN_FRACTION * level)).reshape(n_arr, rows, cols)
    on_row = dim.mean(axis=2) >= LINE_FRACTION
    on_col = dim.mean(axis=1) >= LINE_FRACTION
    line = on_row[:, :, None] | on_col[:, None, :]
    return (dim & line).reshape(n_arr, -1)
