"""Fitted values kept within what a die profile can state: a value the runs put outside
its key's allowed range (a P-state curvature measured slightly below zero, say) is written
at the nearest allowed value, with a warning naming the key, the fitted value and its
uncertainty, instead of the whole fit failing on validation."""

from __future__ import annotations

from typing import Any

import numpy as np

from mtj_hil.sim.profile_schema import PROFILE_FILE


def bounded(key: str, value: float) -> float | None:
    """The nearest value ``key`` (``"section.name"``) allows, or None when ``value`` is
    allowed (or the key has no numeric bounds). Exclusive bounds give the nearest float
    inside."""
    section, _, name = key.partition(".")
    try:
        f = PROFILE_FILE.section(section).field(name)
    except StopIteration:
        return None
    lo, hi = f.lo, f.hi
    if lo is not None and (value < lo or (f.lo_open and value <= lo)):
        return float(np.nextafter(lo, np.inf)) if f.lo_open else float(lo)
    if hi is not None and (value > hi or (f.hi_open and value >= hi)):
        return float(np.nextafter(hi, -np.inf)) if f.hi_open else float(hi)
    return None


def keep_in_range(data: dict[str, Any], values: dict[str, Any]) -> list[str]:
    """Move every scalar fitted value (``values``: ``"section.name"`` -> FitValue) that its
    key does not allow to the nearest allowed value, in ``data`` (the profile's sections)
    too; return one warning per value moved."""
    said = []
    for key, fit in list(values.items()):
        section, _, name = key.partition(".")
        if "[" in name or not isinstance(data.get(section), dict) or name not in data[section]:
            continue
        inside = bounded(key, float(fit.value))
        if inside is None:
            continue
        sd = "" if fit.sd is None else f" +/- {fit.sd:.3g}"
        said.append(
            f"{key} fitted {fit.value:.4g}{sd} lies outside what a profile can state; "
            f"{inside:.4g} written (from {fit.source})"
        )
        data[section][name] = inside
        values[key] = type(fit)(inside, fit.sd, f"{fit.source}; moved into the allowed range")
    return said
