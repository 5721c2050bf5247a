"""Which read voltage a coarse converter resolves the two states at.

A converter of a few bits with a full scale far above the read currents can put P and AP
within one code at the read voltage: at 7 bits and 1 mA full scale a 1t1r-20k die reads
23 uA (P) and 13 uA (AP) at 0.1 V, 1.5 and 0.85 codes of 15.6 uA, so about half of its good
devices read the same code after both writes and their switching is hidden. At the bias
signature's second voltage (by default the die's largest read voltage, 0.3 V there) the
same converter reads about 4.5 and 2.6 codes, and every switch shows. The classifier then
takes that voltage's reads as its evidence.
"""

from __future__ import annotations

import warnings as _warnings

import numpy as np

from mtj_hil.protocols.defects.evidence import quantisation_step

UNRESOLVED_CODES = 1.25
"""A mean P-to-AP difference (converter codes per device) below this leaves the switch to one
code or less: half the good devices read one code after both writes at 7 bits (0.45 codes),
and at 8 bits (one code) a short or stuck device one code off its class reads like the
other class; the second voltage (three codes at 8 bits) tells them apart."""
BETTER_FACTOR = 1.5
"""The second voltage is taken only if it shows at least this many times the difference."""
STEP_SAMPLE = 2048
"""Readings per state the converter's step is found from."""
CLIP_CODES = 3.0
"""Per-device differences are clipped to this many codes (a noisy short's large reads do not
move the die's mean)."""


def mean_state_codes(g_after_p: np.ndarray, g_after_ap: np.ndarray) -> tuple[float, float]:
    """The converter step (S; 0 for readings that are not quantised) of reads ``(cycles,
    reads, ...)`` and the mean over devices of each device's mean reading after P less
    after AP, in steps (``inf`` when not quantised, NaN with no device read in both)."""
    gp, ga = np.asarray(g_after_p, float), np.asarray(g_after_ap, float)
    # (a few thousand first-cycle readings find a converter's step; the die's 40,000 cost 1 ms)
    sample = np.concatenate([gp[0, 0].ravel()[:STEP_SAMPLE], ga[0, 0].ravel()[:STEP_SAMPLE]])
    step = quantisation_step(sample)
    if step <= 0:
        return 0.0, float("inf")
    with _warnings.catch_warnings():
        _warnings.simplefilter("ignore", RuntimeWarning)
        mean_p = np.nanmean(np.where(np.isfinite(gp), gp, np.nan), axis=(0, 1))
        mean_ap = np.nanmean(np.where(np.isfinite(ga), ga, np.nan), axis=(0, 1))
        diff = np.clip((mean_p - mean_ap) / step, -CLIP_CODES, CLIP_CODES)
        return step, float(np.nanmean(diff)) if np.isfinite(diff).any() else float("nan")


def classify_at_second_voltage(
    low: tuple[np.ndarray, np.ndarray], high: tuple[np.ndarray, np.ndarray]
) -> tuple[bool, str]:
    """Whether the reads at the second voltage (``high``: after P and after AP, ``(cycles,
    reads, ...)``, S) should be the classifier's evidence instead of those at the read
    voltage (``low``), and a sentence saying why (empty when not).

    Only for a coarse converter (quantised reads at the read voltage) whose mean P-to-AP
    difference there is under :data:`UNRESOLVED_CODES` and at the second voltage at least
    :data:`BETTER_FACTOR` times larger."""
    step_low, codes_low = mean_state_codes(*low)
    if step_low <= 0 or not codes_low < UNRESOLVED_CODES:
        return False, ""
    _, codes_high = mean_state_codes(*high)
    if not codes_high >= BETTER_FACTOR * max(codes_low, 0.0) or not codes_high > 0:
        return False, ""
    return True, (
        f"the converter (step {1e6 * step_low:.3g} uS at the read voltage) puts P and AP "
        f"{codes_low:.2f} codes apart on average at the read voltage and "
        f"{min(codes_high, 1e9):.2f} at the second read voltage: switches hide within one "
        "code at the read voltage, so devices were classified on the second voltage's reads "
        "(conductance maps stay at the read voltage)"
    )
