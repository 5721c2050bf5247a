"""Plain-sentence messages of the defect classifier about its readings: warnings (small
contrast, failing writes, a coarse converter, missing or saturated readings, resistive
opens, many UNCERTAIN devices). Used by
:mod:`mtj_hil.protocols.defects.classifier`.
"""

from __future__ import annotations

import numpy as np

UNCERTAIN = 5
QUANTISED_FRACTION = 0.05
"""A converter step above this fraction of the P conductance is warned about."""
MARGINAL_WRITES = 0.01
"""A per-cycle write failure rate above this is warned about (a marginal write window)."""


def reading_warnings(ev, overlap, sd, m_d, mu_p, codes, none, resistive, e) -> list[str]:
    """Warnings about the readings: small contrast, failing writes, a coarse converter,
    missing and saturated readings, resistive opens, many UNCERTAIN devices."""
    out = []
    if overlap["switch_vs_noise"] > 1e-3:
        out.append(
            f"switching is small against read noise: {100 * overlap['switch_vs_noise']:.2f} % "
            "of good devices switch by less than 3 noise sigmas per cycle; use more reads "
            "or cycles"
        )
    if e > MARGINAL_WRITES:
        out.append(
            f"writes fail often: {100 * e:.1f} % of verified writes per cycle leave a good device "
            "unswitched even with amplitude escalation (a marginal write window); devices that "
            "failed every cycle may be called stuck: use a larger or longer pulse (--pulse-"
            "amplitude, --pulse-width) or more cycles"
        )
    if ev.step > QUANTISED_FRACTION * np.exp(mu_p):
        out.append(
            f"readings{ev.reads} are quantised in steps of {ev.step:.3g} S "
            f"({100 * ev.step / np.exp(mu_p):.0f} % of the P level): conductances closer "
            "than a step cannot be told apart and devices reading near zero look open; use a "
            "smaller converter range or more reads"
        )
    n_nan, n_sat = int(np.sum(ev.n_nan)), int(np.sum(ev.saturated))
    if n_nan:
        out.append(
            f"{n_nan} readings were NaN (instrument returned no value) and were left out; "
            f"{int(none.sum())} devices had no valid reading and are UNCERTAIN"
        )
    if n_sat:
        out.append(
            f"{n_sat} devices read beyond the converter's range (saturated) and are "
            "UNCERTAIN: lower the read voltage or use a larger range"
        )
    if int(resistive.sum()):
        out.append(
            f"{int(resistive.sum())} OPEN devices still conduct (resistive opens, between the "
            "open level and about the P level, no switching): recorded as the resistive sub-class of OPEN"
        )
    n_unc = int((codes == UNCERTAIN).sum())
    if n_unc > 1e-3 * codes.size:
        out.append(
            f"{n_unc} devices ({100 * n_unc / codes.size:.2f} %) are UNCERTAIN: the evidence "
            "cannot settle them"
        )
    return out
