"""Per-device observables of a characterisation: levels, per-cycle switching, read noise.

Raw reads ``(cycles, reads, *S)`` become, per device, the mean ln G after P and after AP
writes, the per-cycle log ratio ``d_c``, the linear mean conductance, and counts of missing
(NaN) and saturated (+inf) readings; the per-cycle read noise is measured from the die itself.
Used by :mod:`mtj_hil.protocols.defects.classifier`.
"""

from __future__ import annotations

import warnings as _warnings
from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.defects.rowwise import (
    distinct_at_least,
    may_tie,
    median,
    median_and_max_run,
    nanmedian_all,
)
from mtj_hil.protocols.errors import ProtocolError

_LN_FLOOR = 1e-15
MIN_NOISE_DEVICES = 10
"""Fewer devices measured in two or more cycles than this (a re-measurement of a handful)
and the read noise is not taken from their spread between cycles."""


@dataclass(frozen=True)
class ClassifierSettings:
    """Knobs of the classifier (the defaults are what run files record when not changed).

    Attributes:
        min_posterior: a device is UNCERTAIN unless its outcome reaches this posterior.
        write_failure_prior: per-cycle probability that a verified write leaves a good device
            unswitched, assumed when it cannot be measured (one cycle); with more cycles it is
            measured and this acts as a weak prior.
        assumed_noise: relative read noise (1 sigma of ln G per cycle) assumed when it cannot
            be measured (one cycle and one read).
        em_iterations: iterations of the class-weight / short-distribution fit.
        line_offsets: estimate each output line's sense offset from its good devices and
            remove it where the lines differ significantly.
    """

    min_posterior: float = 0.95
    write_failure_prior: float = 1e-3
    assumed_noise: float = 0.02
    em_iterations: int = 15
    line_offsets: bool = True


@dataclass
class Evidence:
    """Per-device observables of a stack of arrays (device shape ``S``).

    Attributes:
        x_p, x_ap: mean ln G (G in S) after P and after AP writes over valid readings.
        d: ``(cycles, *S)`` per-cycle ln(G after P / G after AP); NaN where a reading is missing.
        g_lin: mean conductance (S) over all valid readings of both states.
        n_valid: valid (finite) readings per device.
        saturated: devices with at least one reading beyond the converter's range (+inf).
        saturated_all: devices whose every reading saturated.
        n_nan: NaN readings per device.
        cycle_sigma: read noise, sigma of ln G of a per-cycle mean; noise_source: how known.
        step: conductance step (S) of quantised readings (a coarse converter), 0 if none.
        reads: which reads these are, for messages ("" the read voltage's).
    """

    x_p: np.ndarray
    x_ap: np.ndarray
    d: np.ndarray
    g_lin: np.ndarray
    n_valid: np.ndarray
    saturated: np.ndarray
    saturated_all: np.ndarray
    n_nan: np.ndarray
    cycle_sigma: float
    noise_source: str
    step: float = 0.0
    reads: str = ""


def gather_evidence(
    g_after_p: np.ndarray,
    g_after_ap: np.ndarray,
    settings: ClassifierSettings | None = None,
    unmeasured: np.ndarray | None = None,
) -> Evidence:
    """Per-device observables from raw reads ``(cycles, reads, *S)`` in S.

    NaN readings are dropped; +inf readings mark a converter that saturated. ``unmeasured``
    (bool, ``(cycles, *S)``) marks cycles a device was not measured in (their NaN padding is
    not counted as missing readings). The per-cycle
    read noise (sigma of ln G of a per-cycle mean) is measured from the spread between cycles
    (two or more cycles) or between reads (one cycle, several reads), else assumed.

    Raises:
        ProtocolError: the two read stacks have different shapes.
    """
    s = settings or ClassifierSettings()
    gp = np.asarray(g_after_p, dtype=float)
    ga = np.asarray(g_after_ap, dtype=float)
    if gp.shape != ga.shape or gp.ndim < 3:
        raise ProtocolError(
            f"reads after P {gp.shape} and after AP {ga.shape} must share a shape "
            "(cycles, reads, ...)"
        )
    cycles, reads = gp.shape[:2]
    both = np.stack([gp, ga])  # (2, C, R, *S)
    sat = np.isposinf(both)
    nan = np.isnan(both) | np.isneginf(both)
    counted = nan if unmeasured is None else nan & ~np.asarray(unmeasured, bool)[None, :, None]
    valid = ~(sat | nan)
    n_valid = valid.sum(axis=(0, 1, 2))
    with np.errstate(invalid="ignore", divide="ignore"), _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN devices are handled below
        g_lin = np.where(valid, both, 0.0).sum(axis=(0, 1, 2)) / np.maximum(n_valid, 1)
        g_lin = np.where(n_valid > 0, g_lin, np.nan)
        ln = np.where(valid, np.log(np.clip(both, _LN_FLOOR, None)), np.nan)
        nvr = valid.sum(axis=2)  # (2, C, *S)
        if reads == 1:  # the one read's log (NaN where invalid): the mean below, bit for bit
            cyc = ln[:, :, 0]
        else:
            cyc = np.where(nvr > 0, np.nansum(ln, axis=2) / np.maximum(nvr, 1), np.nan)
        x = np.nanmean(cyc, axis=1)  # (2, *S)
    d = cyc[0] - cyc[1]

    # Noise: only devices whose readings are well above the noise floor (not opens).
    g_ref = nanmedian_all(g_lin) if np.isfinite(g_lin).any() else np.nan
    usable = np.isfinite(g_lin) & (g_lin > 0.05 * g_ref) & ~sat.any(axis=(0, 1, 2))
    sigma, source = np.nan, ""
    n_c = np.isfinite(cyc).sum(axis=1, keepdims=True)  # cycles measured per device
    repeated = int((usable & (n_c >= 2).any(axis=(0, 1))).sum())
    if cycles >= 2 and repeated >= MIN_NOISE_DEVICES:
        scale = np.sqrt(n_c / np.maximum(n_c - 1, 1))
        centre = np.nansum(cyc, axis=1, keepdims=True) / np.maximum(n_c, 1)
        resid = np.where(n_c >= 2, (cyc - centre) * scale, np.nan)
        r = resid[:, :, usable]
        sigma = robust_sigma(r[np.isfinite(r)])
        source = f"spread of per-cycle means between up to {cycles} cycles"
        if repeated < usable.sum() / 2:
            source += f" of the {repeated} devices measured more than once"
    elif reads >= 2:
        resid = ln - np.nanmean(ln, axis=2, keepdims=True)
        r = resid[..., usable]
        sigma = robust_sigma(r[np.isfinite(r)]) * np.sqrt(reads / (reads - 1)) / np.sqrt(reads)
        source = f"spread between {reads} reads of one cycle"
    if not np.isfinite(sigma) or sigma <= 0:
        sigma = s.assumed_noise
        source = (
            f"assumed {100 * s.assumed_noise:g} % (one cycle and one read: read noise cannot "
            "be measured)"
        )
    else:
        sigma = max(float(sigma), 1e-4)
    return Evidence(
        x_p=x[0],
        x_ap=x[1],
        d=d,
        g_lin=g_lin,
        n_valid=n_valid,
        saturated=sat.any(axis=(0, 1, 2)),
        saturated_all=sat.all(axis=(0, 1, 2)),
        n_nan=counted.sum(axis=(0, 1, 2)),
        cycle_sigma=float(sigma),
        noise_source=source,
        step=quantisation_step(both[:, 0, 0]),
    )


def quantisation_step(g: np.ndarray) -> float:
    """The step (S) of readings that take only a few distinct values (a coarse converter),
    or 0 when they do not: over a third of the positive finite readings repeat one of the
    others (to 6 significant digits), and the step is the smallest gap between them, refined
    to float precision as the readings' sum over the sum of their multiples of it (readings
    of whole codes are then whole numbers of steps to 1e-12, as
    :func:`~mtj_hil.protocols.defects.hidden.device_codes` needs)."""
    v = np.asarray(g, dtype=float)
    v = v[np.isfinite(v) & (v > 0)]
    if v.size < 20:
        return 0.0
    scale = _powers_of_ten(np.floor(np.log10(v)))
    rounded = np.round(v / scale, 5) * scale
    if distinct_at_least(rounded) > v.size / 3:
        return 0.0  # (a lower bound on the distinct values, without a sort)
    distinct = np.unique(rounded)
    if distinct.size > v.size / 3 or distinct.size < 2:
        return 0.0
    gaps = np.diff(distinct)
    gaps = gaps[gaps > 1e-6 * distinct[1:]]
    if not gaps.size:
        return 0.0
    # the smallest gap of values rounded to 6 digits is off by up to 1e-5 of the step (9
    # bits: 1.171875e-4 S rounds to 1.17188e-4): no reading would then be a whole number of
    # steps; each reading's own multiple of it gives the step to float precision
    k = np.round(v / float(gaps.min()))
    on = k > 0
    return float(v[on].sum() / k[on].sum())


def _powers_of_ten(exponents: np.ndarray) -> np.ndarray:
    """``10 ** exponents`` for integral float exponents: each distinct power computed once
    (the same ``pow`` as elementwise) and looked up (readings span a few decades)."""
    lo, hi = float(exponents.min()), float(exponents.max())
    if hi - lo > 64:
        return 10**exponents
    table = 10 ** np.arange(lo, hi + 1.0)
    return table[(exponents - lo).astype(np.intp)]


def robust_sigma(values: np.ndarray) -> float:
    """A Gaussian's sigma robust to outliers: 1.4826 x median absolute deviation.

    When a tenth or more of the values tie (a coarse converter: most devices share one
    code, and the MAD may be 0) the standard deviation of the central 98 % (scaled to a full
    Gaussian's) is used if larger, so quantised readings do not look spread-free."""
    return robust_stats(values)[1]


def robust_stats(values: np.ndarray) -> tuple[float, float]:
    """The median of the finite ``values`` (``np.median`` of them, bit for bit) and their
    :func:`robust_sigma`, from one median (NaN, NaN if none is finite)."""
    v = np.asarray(values, dtype=float)
    v = v[np.isfinite(v)]
    if v.size == 0:
        return float("nan"), float("nan")
    if v.size < 20 or not may_tie(v, 0.1):
        med = median(v)
        return med, float(1.4826 * median(np.abs(v - med)))  # no heavy ties: the MAD is right
    med, max_run = median_and_max_run(v)
    mad = float(1.4826 * np.median(np.abs(v - med)))
    if max_run < 0.1 * v.size:
        return med, mad
    lo, hi = np.quantile(v, [0.01, 0.99])
    core = v[(v >= lo) & (v <= hi)]
    return med, max(mad, float(np.std(core)) / TRIMMED_STD_FACTOR)


TRIMMED_STD_FACTOR = 0.9347
"""Standard deviation of a Gaussian cut to its central 98 %, in units of its sigma."""
