"""Defect rates fitted from characterisation runs.

- Each device counts for its called class; an UNCERTAIN device is apportioned to the
  classes by its posterior (its best guess where it has none), so an overlap of two classes
  does not drop devices from both rates.
- Whole lines are structure, not point defects: an output line (column) of an array whose
  devices are (nearly) all OPEN is a line open (``line_open_rate``), an input line (row)
  nearly all SHORT a shorted line (``line_short_rate``), an array nearly all OPEN a dead
  array (``spatial.dead_array_rate``); their devices are left out of the point rates.
- Resistive opens (the OPEN sub-class that still conducts): ``resistive_opens.fraction`` of
  the point opens, ``g_high`` their largest conductance; ``g_low`` is where the runs stop
  seeing them (the resistive floor), a bound.
- The die-to-die spread (the gamma factor's coefficient of variation) by moments of the
  per-die counts, with a bootstrap over dies (3 dies at least); short conductances as a
  lognormal from the SHORT devices (their own readings' noise removed).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from mtj_hil.profile_fit.resistance import robust_sd
from mtj_hil.profile_fit.runs import CharRun
from mtj_hil.protocols.defects.codes import DEFECT_CLASSES, DefectCode

LINE_SHARE = 0.9
"""A line (or array) with at least this share of one defect class is a line defect."""
MIN_DIES_FOR_SPREAD = 3
MIN_SHORTS = 5
MIN_RESISTIVE = 5
RATE_KEYS = (
    (DefectCode.SHORT, "short_rate"),
    (DefectCode.OPEN, "open_rate"),
    (DefectCode.STUCK_P, "stuck_p_rate"),
    (DefectCode.STUCK_AP, "stuck_ap_rate"),
)


@dataclass
class DieDefects:
    """What one run's defect map says, line structure taken out."""

    counts: np.ndarray  # expected point defects per class (RATE_KEYS order)
    devices: int  # devices outside line structure
    arrays: int
    open_lines: int
    short_lines: int
    dead_arrays: int
    die_arrays: int  # arrays the die has (measured or not)
    uncertain: int
    short_g: np.ndarray
    resistive_g: np.ndarray
    point_opens: float
    spatial_mask: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, bool))


def die_defects(run: CharRun, exclude: np.ndarray | None = None) -> DieDefects:
    """Point-defect counts (UNCERTAIN apportioned) and line structure of one run; devices
    in ``exclude`` (spatial structure, codes' shape) are left out of the point counts."""
    c = run.char
    codes = c.codes
    weights = np.zeros((*codes.shape, len(DEFECT_CLASSES)))
    called = codes != DefectCode.UNCERTAIN
    weights[called, codes[called]] = 1.0
    unc = ~called
    if unc.any():
        post = c.posterior[unc] if c.posterior is not None else None
        if post is None or not np.isfinite(post).all():
            guess = c.best_guess[unc] if c.best_guess is not None else np.zeros(int(unc.sum()))
            fallback = np.eye(len(DEFECT_CLASSES))[np.asarray(guess, int)]
            post = fallback if post is None else np.where(np.isfinite(post), post, fallback)
        weights[unc] = post / np.maximum(post.sum(axis=-1, keepdims=True), 1e-12)
    is_open = weights[..., DefectCode.OPEN]
    is_short = weights[..., DefectCode.SHORT]
    dead = is_open.mean(axis=(1, 2)) >= LINE_SHARE  # (arrays,)
    open_cols = (is_open.mean(axis=1) >= LINE_SHARE) & ~dead[:, None]  # (arrays, cols)
    short_rows = (is_short.mean(axis=2) >= LINE_SHARE) & ~dead[:, None]  # (arrays, rows)
    structure = dead[:, None, None] | open_cols[:, None, :] | short_rows[:, :, None]
    point = ~structure if exclude is None else ~structure & ~exclude
    counts = np.array([weights[..., code][point].sum() for code, _ in RATE_KEYS])
    s = (codes == DefectCode.SHORT) & point
    opens = (codes == DefectCode.OPEN) & point
    ro = c.resistive_open if c.resistive_open is not None else np.zeros(codes.shape, bool)
    g = np.sqrt(np.abs(c.g_p * c.g_ap))
    return DieDefects(
        counts=counts,
        devices=int(point.sum()),
        arrays=codes.shape[0],
        open_lines=int(open_cols.sum()),
        short_lines=int(short_rows.sum()),
        dead_arrays=int(dead.sum()),
        die_arrays=int(c.layout.get("n_arrays") or codes.shape[0]),
        uncertain=int(unc.sum()),
        short_g=g[s],
        resistive_g=g[ro & opens],
        point_opens=float(weights[..., DefectCode.OPEN][point].sum()),
        spatial_mask=structure,
    )


def die_spread(n: np.ndarray, devices: np.ndarray, boots: int = 400) -> tuple[float, float]:
    """Coefficient of variation of the per-die rate factor from per-die defect counts."""
    if len(n) < MIN_DIES_FOR_SPREAD:
        return float("nan"), float("nan")

    def cv_of(counts: np.ndarray, dev: np.ndarray) -> float:
        lam = counts / dev * dev.mean()
        m = lam.mean()
        return float(np.sqrt(max(lam.var(ddof=1) - m, 0.0)) / m) if m > 0 else 0.0

    value = cv_of(n, devices)
    rng = np.random.default_rng(0)
    idx = rng.integers(0, len(n), size=(boots, len(n)))
    sd = float(np.std([cv_of(n[i], devices[i]) for i in idx]))
    return value, sd


def fit_defects(dies: list[DieDefects], put, defaults: list[str], src: str, noise_var: float):
    """Put the defect section (and line / dead-array / resistive-open values) of the
    fitted profile (``put(section, key, value, sd, source)``)."""
    counts = np.stack([d.counts for d in dies])
    devices = np.array([d.devices for d in dies], float)
    total = devices.sum()
    cv, cv_sd = die_spread(counts.sum(axis=1), devices)
    n_unc = sum(d.uncertain for d in dies)
    for j, (_, key) in enumerate(RATE_KEYS):
        k = counts[:, j].sum()
        rate = k / total
        rel = np.sqrt(1.0 / max(k, 1.0) + (cv**2 if np.isfinite(cv) else 0.0) / len(dies))
        note = f", {n_unc} UNCERTAIN apportioned by posterior" if n_unc else ""
        put(
            "defects",
            key,
            rate,
            rate * rel if k >= 1 else 1.0 / total,
            f"{k:.1f} devices of {int(total)} outside line defects{note}, {src}",
        )
    arrays = sum(d.arrays for d in dies)
    for key, n, what in (
        ("line_open_rate", sum(d.open_lines for d in dies), "whole-open output lines"),
        ("line_short_rate", sum(d.short_lines for d in dies), "fully shorted input lines"),
    ):
        put(
            "defects",
            key,
            n / arrays,
            np.sqrt(max(n, 1)) / arrays,
            f"{n} {what} in {arrays} arrays",
        )
    dead = sum(d.dead_arrays for d in dies)
    if dead:
        # a rate per whole die: the runs measured a share of each die's arrays
        whole = sum(d.arrays / d.die_arrays for d in dies)
        put(
            "spatial",
            "dead_array_rate",
            dead / whole,
            np.sqrt(dead) / whole,
            f"{dead} arrays all OPEN in {arrays} arrays measured ({whole:.3g} dies' worth)",
        )
    if np.isfinite(cv):
        put("defects", "die_spread", cv, cv_sd, f"moments of per-die defect counts, {src}")
    else:
        defaults.append("defects.die_spread")
    g = np.concatenate([d.short_g for d in dies])
    g = g[np.isfinite(g) & (g > 0)]
    if g.size >= MIN_SHORTS:
        lg = np.log(g)
        s = np.sqrt(max(robust_sd(lg) ** 2 - noise_var, 0.0))
        med = float(np.exp(np.median(lg)))
        put(
            "defects",
            "short_g_median",
            med,
            med * 1.2533 * s / np.sqrt(g.size),
            f"{g.size} SHORT devices",
        )
        put("defects", "short_g_sigma", s, s / np.sqrt(2 * g.size), f"{g.size} SHORT devices")
    else:
        defaults += ["defects.short_g_median", "defects.short_g_sigma"]
    rg = np.concatenate([d.resistive_g for d in dies])
    rg = rg[np.isfinite(rg) & (rg > 0)]
    opens = sum(d.point_opens for d in dies)
    if rg.size >= MIN_RESISTIVE and opens > 0:
        # Log-uniform: the top is estimated from the second largest plus one mean spacing,
        # so one stray device (a misread stuck one) cannot set it.
        srt = np.sort(np.log(rg))
        lo = float(srt[0])
        hi = float(srt[-2] + (srt[-2] - srt[0]) / max(srt.size - 2, 1))
        frac = rg.size / opens
        put(
            "resistive_opens",
            "fraction",
            frac,
            np.sqrt(frac * (1 - frac) / opens) + 1.0 / opens,
            f"{rg.size} conducting of {opens:.0f} point opens (those below the floor count as hard)",
        )
        put(
            "resistive_opens",
            "g_high",
            float(np.exp(hi)),
            float(np.exp(hi) * (hi - lo) / rg.size),
            f"top of {rg.size} resistive opens (log-uniform: second largest plus a spacing)",
        )
        put(
            "resistive_opens",
            "g_low",
            float(np.exp(lo)),
            None,
            "smallest seen: a bound (below the resistive floor the runs cannot tell)",
        )
