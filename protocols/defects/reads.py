"""Classify devices from their raw reads: evidence, per-line sense offsets, classification.

:func:`classify_reads` is the default classifier of a characterisation. It gathers each
device's evidence (:mod:`mtj_hil.protocols.defects.evidence`, with the bias signature where a
second read voltage was measured), classifies it
(:mod:`mtj_hil.protocols.defects.classifier`), then estimates each output line's sense offset
from the devices that switched (:mod:`mtj_hil.protocols.defects.offsets`); where the lines
differ significantly the offsets are removed from every read and the die is classified again.
"""

from __future__ import annotations

import warnings as _warnings

import numpy as np

from mtj_hil.protocols.defects.bias_signature import gather_bias_evidence
from mtj_hil.protocols.defects.classifier import classify_evidence, short_boundary
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.protocols.defects.evidence import ClassifierSettings, gather_evidence
from mtj_hil.protocols.defects.offsets import estimate_line_offsets, remove_offsets
from mtj_hil.protocols.defects.resolving_voltage import classify_at_second_voltage
from mtj_hil.protocols.defects.results import DefectMap, Thresholds

GOOD_FOR_OFFSETS = 0.99
"""Posterior a GOOD device needs to take part in the offset estimate."""


def classify_reads(
    g_after_p: np.ndarray,
    g_after_ap: np.ndarray,
    settings: ClassifierSettings | None = None,
    unmeasured: np.ndarray | None = None,
    *,
    g_high_p: np.ndarray | None = None,
    g_high_ap: np.ndarray | None = None,
    read_voltages: tuple[float, float | None] | None = None,
) -> DefectMap:
    """Classify devices from their raw reads ``(cycles, reads, ...)`` (S) on their own evidence.

    See :mod:`mtj_hil.protocols.defects.classifier`. NaN readings are left out; +inf readings
    (a saturated converter) make a device UNCERTAIN. ``unmeasured`` (bool ``(cycles, ...)``)
    marks cycles a device was deliberately not measured in (re-measurement padding).
    ``g_high_p`` / ``g_high_ap`` (same shape, S): reads at a second, higher read voltage;
    with them each device's bias signature joins the evidence
    (:mod:`mtj_hil.protocols.defects.bias_signature`). ``read_voltages`` (V, low and high):
    an offset current adds ``o / V`` to a conductance, so with them the offsets found at the
    low voltage are scaled to the high one; without them the high reads get their own
    estimate.

    Raises:
        ProtocolError: nothing (or too little to fit) switched; the message says what was seen.
    """
    s = settings or ClassifierSettings()
    stacks = [g_after_p, g_after_ap, g_high_p, g_high_ap]
    result = _classify(*stacks, s, unmeasured)
    if not s.line_offsets or np.ndim(g_after_p) < 4:
        return result
    as3 = lambda a: a.reshape((-1, *a.shape[-2:]))  # noqa: E731  (arrays, rows, cols)
    good = as3((result.codes == DefectCode.GOOD) & (result.confidence >= GOOD_FOR_OFFSETS))
    ratio, high = None, None
    if read_voltages and read_voltages[1] and g_high_p is not None and g_high_ap is not None:
        ratio = read_voltages[0] / read_voltages[1]
        high = (as3(_mean(g_high_p)), as3(_mean(g_high_ap)))
    offsets = estimate_line_offsets(
        as3(_mean(g_after_p)), as3(_mean(g_after_ap)), good, high, ratio
    )
    v1 = read_voltages[0] if read_voltages else None
    model = offsets.as_model(v1)
    if offsets.applied:
        shape = np.shape(g_after_p)
        flat = lambda a: np.asarray(a, float).reshape((*shape[:2], *good.shape))  # noqa: E731
        fixed = [
            remove_offsets(flat(g_after_p), offsets),
            remove_offsets(flat(g_after_ap), offsets),
        ]
        if g_high_p is not None and g_high_ap is not None:
            if read_voltages and read_voltages[1]:
                ratio = read_voltages[0] / read_voltages[1]
                fixed += [remove_offsets(flat(a), offsets, ratio) for a in (g_high_p, g_high_ap)]
            else:
                high = estimate_line_offsets(as3(_mean(g_high_p)), as3(_mean(g_high_ap)), good)
                fixed += [remove_offsets(flat(a), high) for a in (g_high_p, g_high_ap)]
        else:
            fixed += [None, None]
        fixed = [None if a is None else a.reshape(shape) for a in fixed]
        result = _classify(*fixed, s, unmeasured)
        unit = "uA" if v1 else "uS"
        result.warnings.append(
            f"output lines carry sense offsets ({1e6 * model['spread']:.2g} {unit} rms "
            f"between lines, held-out significance {offsets.z:.1f} sigma): estimated per line "
            f"from its good devices ({offsets.method}) and removed"
        )
    result.model["line_offsets"] = model
    return result


def _mean(g: np.ndarray) -> np.ndarray:
    """Mean conductance over cycles and reads (linear: an offset adds linearly)."""
    a = np.asarray(g, float)
    a = np.where(np.isfinite(a), a, np.nan)
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)
        return np.nanmean(a, axis=(0, 1))


def _classify(g_p_reads, g_ap_reads, g_high_p, g_high_ap, settings, unmeasured) -> DefectMap:
    """Classify on the reads at the read voltage, or, where a coarse converter hides the
    switches there and not at the second voltage, on the second voltage's reads
    (:mod:`~mtj_hil.protocols.defects.resolving_voltage`; the maps stay at the read
    voltage)."""
    if g_high_p is not None and g_high_ap is not None:
        use_high, why = classify_at_second_voltage((g_p_reads, g_ap_reads), (g_high_p, g_high_ap))
        if use_high:
            at = " at the second read voltage"
            result = _classify_at(g_high_p, g_high_ap, None, None, settings, unmeasured, at)
            low = gather_evidence(g_p_reads, g_ap_reads, settings, unmeasured)
            _to_read_voltage(result, low)
            result.warnings.append(why)
            return result
    return _classify_at(g_p_reads, g_ap_reads, g_high_p, g_high_ap, settings, unmeasured)


def _classify_at(
    g_p_reads, g_ap_reads, g_high_p, g_high_ap, settings, unmeasured, reads: str = ""
) -> DefectMap:
    ev = gather_evidence(g_p_reads, g_ap_reads, settings, unmeasured)
    ev.reads = reads
    bias = None
    if g_high_p is not None and g_high_ap is not None:
        bias = gather_bias_evidence(g_p_reads, g_ap_reads, g_high_p, g_high_ap)
    result = classify_evidence(ev, settings, bias)
    m = result.model
    with np.errstate(invalid="ignore", divide="ignore"):
        g_p, g_ap = np.exp(ev.x_p), np.exp(ev.x_ap)
    thresholds = Thresholds(
        state_g=float(np.sqrt(m["median_g_p"] * m["median_g_ap"])),
        short_g=short_boundary(m),
        open_g=float(m["open_g"]),
        method=m["method"],
        median_g_p=float(m["median_g_p"]),
        median_g_ap=float(m["median_g_ap"]),
        sigma_ln_p=float(m["sigma_ln_p"]),
        sigma_ln_ap=float(m["sigma_ln_ap"]),
    )
    return DefectMap(
        g_p=np.where(ev.g_lin < m["open_g"], ev.g_lin, g_p),
        g_ap=np.where(ev.g_lin < m["open_g"], ev.g_lin, g_ap),
        codes=result.codes,
        thresholds=thresholds,
        confidence=result.confidence,
        best_guess=result.best_guess,
        posterior=result.posterior,
        model=m,
        warnings=result.warnings,
        overlap=result.overlap,
        bias_p=None if bias is None else bias.b_p,
        bias_ap=None if bias is None else bias.b_ap,
        resistive_open=result.resistive_open,
    )


def _to_read_voltage(result: DefectMap, low) -> None:
    """Put the maps and thresholds of a classification made at the second voltage at the
    read voltage (``low``: the evidence there): the maps are the read voltage's, and each
    conductance threshold is scaled by the good devices' median ratio of the two voltages
    in the state it borders (the spreads in ln G carry over)."""
    t = result.thresholds
    open_g = t.open_g
    with np.errstate(invalid="ignore", divide="ignore"):
        result.g_p = np.where(low.g_lin < open_g, low.g_lin, np.exp(low.x_p))
        result.g_ap = np.where(low.g_lin < open_g, low.g_lin, np.exp(low.x_ap))
    good = (result.codes == DefectCode.GOOD) & np.isfinite(result.g_p) & np.isfinite(result.g_ap)
    if good.any():
        med_p, med_ap = float(np.median(result.g_p[good])), float(np.median(result.g_ap[good]))
        scale_p = med_p / t.median_g_p
        result.thresholds = Thresholds(
            state_g=float(np.sqrt(med_p * med_ap)),
            short_g=t.short_g * scale_p,
            open_g=t.open_g * med_ap / t.median_g_ap,
            method=f"{t.method}; classified at the second read voltage",
            median_g_p=med_p,
            median_g_ap=med_ap,
            sigma_ln_p=t.sigma_ln_p,
            sigma_ln_ap=t.sigma_ln_ap,
        )
    result.model["classified_at"] = "second read voltage"
