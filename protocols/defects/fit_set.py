"""The devices the level and contrast distributions of a die are fitted to
(:func:`fit_set`), used by :mod:`mtj_hil.protocols.defects.classifier`."""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols.defects import diagnostics as diag
from mtj_hil.protocols.defects.contrast import fit_contrast
from mtj_hil.protocols.defects.rowwise import median, nanmedian_all
from mtj_hil.protocols.errors import ProtocolError

SWITCH_SIGMAS = 6.0
"""A cycle whose ``d_c`` exceeds this many noise sigmas counts as a clean switch (for fitting)."""
MIN_FIT_DEVICES = 20
"""Fewer devices that switched than this and the die is refused (nothing to fit)..."""
MIN_FIT_FLOOR = 4
"""...unless the die is small: then half its devices, but never fewer than this."""
MAX_SWITCH_LN = float(np.log(11.0))
"""The largest switching contrast (ln G_P / G_AP) a junction can show: a TMR of 1000 %.
The highest room-temperature TMR reported is about 600 % (CoFeB/MgO/CoFeB; Ikeda et al.,
Appl. Phys. Lett. 93, 082508, 2008), so a device whose reading changes by more than this
between writes is not switching: it is noise around no current (an open read without a
converter, whose noise swings the ratio), and it is left out of the fit set."""
STRICT_SHARE = 0.9
"""The every-cycle rule is used for the fit only if it keeps this share of the devices
that switch on average (else it would select the largest contrasts only)."""


def fit_set(ev, d, n_cyc, ok, g_lin, sd, warnings):
    """The devices the level and contrast distributions are fitted to, and how chosen.

    Devices that switched cleanly in every cycle, by no more than a junction can
    (:data:`MAX_SWITCH_LN`); when the read noise is large against the
    switching contrast that rule keeps only the largest contrasts (a biased sample), so the
    devices a mixture fit of the mean log ratios gives to the switching component are used
    instead (with that fit's contrast distribution).

    Raises:
        ProtocolError: too few devices switched.
    """
    with np.errstate(invalid="ignore"):
        d_min = np.where(n_cyc > 0, np.nanmin(np.where(np.isfinite(d), d, np.inf), axis=0), np.nan)
        d_max = np.where(n_cyc > 0, np.nanmax(np.where(np.isfinite(d), d, -np.inf), axis=0), 0)
        dbar = np.where(n_cyc > 0, np.nansum(np.nan_to_num(d), axis=0) / np.maximum(n_cyc, 1), 0)
        lit = ok & (g_lin > 0.05 * nanmedian_all(np.where(ok, g_lin, np.nan)))
    # Larger "switches" are noise around no current; on a quantised die a state read as
    # code 0 makes any ratio (its reading is the floor), so there the bound does not apply.
    junction = (d_max <= MAX_SWITCH_LN) | (ev.step > 0)
    strict = ok & (n_cyc > 0) & (d_min > SWITCH_SIGMAS * sd) & junction
    m_em, s_em, resp_sw = fit_contrast(dbar, n_cyc, lit, sd)
    # A switching component within 3 noise sigmas of 0 is noise, not switching.
    noise_mean = sd / np.sqrt(max(median(n_cyc[ok]) if ok.any() else 1.0, 1.0))
    separated = np.isfinite(m_em) and m_em > 3.0 * noise_mean
    average = ok & (n_cyc > 0) & (resp_sw > 0.5) & (dbar > 0) & separated & junction
    need = min(MIN_FIT_DEVICES, max(MIN_FIT_FLOOR, int(np.ceil(0.5 * ok.size))))
    clean, rule = strict, f"switched by > {SWITCH_SIGMAS:g} noise sigmas in every cycle"
    if int(strict.sum()) < STRICT_SHARE * int(average.sum()) or int(strict.sum()) < need:
        clean = average
        rule = "switch on average (mixture fit of the mean log ratios; noisy reads)"
        if int(clean.sum()) < need:
            raise ProtocolError(
                diag.nothing_switched(ev, dbar, ok, sd, int(strict.sum()), SWITCH_SIGMAS, need)
            )
        warnings.append(
            f"read noise ({100 * ev.cycle_sigma:.2g} % per cycle) is large against the "
            f"switching contrast: only {int(strict.sum())} of {int(clean.sum())} switching "
            "devices switched clearly in every cycle; the fit uses devices that switch on "
            "average; use more --reads or --cycles"
        )
    return clean, rule, dbar, (m_em, s_em)
