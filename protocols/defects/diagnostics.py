"""What the classifier says about its own result: overlaps, checks against the data, warnings.

The figures quoted are computed from the data wherever the data can say it:

- **held-out check of the levels**: the devices called stuck-P (stuck-AP) were not used to
  fit the P (AP) level distribution, which comes from the devices that switched; if they do
  not look like it (a two-sample Kolmogorov-Smirnov test), another population hides among
  them (shorts near the P level, a second device size) and their stated confidence is
  optimistic: the warning names the class, the distance and the devices;
- **two independent views**: with a second read voltage, the level alone and the bias
  signature alone each call the non-switching devices; where both are sure and disagree (and
  the signature's own likelihood ratio, not the class weights, is against the level's call),
  the model is wrong for that device (it is made UNCERTAIN) and the rate is reported;
- **posterior check**: the expected number of wrong calls among the non-switching devices
  (sum of one minus the confidence), and which classes compete in the UNCERTAIN devices.

The Bayes error between the fitted P and AP level distributions (mixtures where fitted) is
still given as the levels-alone figure.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np

from mtj_hil.protocols.defects.classes import normalise
from mtj_hil.protocols.defects.codes import DEFECT_CLASSES
from mtj_hil.protocols.defects.evidence import Evidence
from mtj_hil.protocols.defects.ks import ks_two_sided
from mtj_hil.protocols.defects.levels import LevelMixture, level_loglik
from mtj_hil.protocols.defects.rowwise import median

GOOD, SHORT, OPEN, STUCK_P, STUCK_AP, UNCERTAIN = range(6)
NAMES = tuple(c.name for c in DEFECT_CLASSES)
SURE = 0.95
"""Posterior at which each view (level, bias signature) counts as sure of its call."""
KS_P = 1e-3
"""p-value below which the held-out level check warns."""
MIN_CHECKED = 8
CROWD_SIGMAS = 4.0
"""The side excess must exceed this many binomial sigmas: the recalibration caps many calls
at once, so a chance imbalance of a few dozen devices (p ~ 1e-3 per check, dozens of checks
per lot) must not trigger it."""
"""Fewer devices in a class than this and its held-out check is not made."""


def mixture_bayes_error(
    mu1: float, mix1: LevelMixture, mu2: float, mix2: LevelMixture, noise: float
) -> float:
    """Error of telling two equally likely level distributions apart (half their overlap)."""
    spread = max(float(np.max(mix1.sigmas)), float(np.max(mix2.sigmas)), noise, 1e-3)
    lo = min(mu1 + mix1.means.min(), mu2 + mix2.means.min()) - 8 * spread
    hi = max(mu1 + mix1.means.max(), mu2 + mix2.means.max()) + 8 * spread
    x = np.linspace(lo, hi, 4001)[None, :]
    f1 = np.exp(level_loglik(x, np.array([mu1]), mix1, noise))[0]
    f2 = np.exp(level_loglik(x, np.array([mu2]), mix2, noise))[0]
    return float(0.5 * np.minimum(f1, f2).sum() * (x[0, 1] - x[0, 0]))


def view_conflicts(
    level_ll: np.ndarray, bias_ll: np.ndarray, weights: np.ndarray, stuck_like: np.ndarray
) -> np.ndarray:
    """Devices that do not switch on which the level alone and the bias signature alone are
    each sure (posterior >= ``SURE``) of different classes (SHORT / OPEN / STUCK_P /
    STUCK_AP; a shared call of stuck in either state counts as a class of its own here only
    through its state), and the signature's own evidence (its likelihood ratio, without the
    class weights) is against the level's class by the same odds. A view that cannot tell
    two classes apart (the signature: a short and an open are both ohmic) is no witness
    against either: its weights alone would pick the more common class. ``level_ll`` and
    ``bias_ll`` are ``(*S, 5)``; ``weights`` the class weights."""
    defects = np.array([SHORT, OPEN, STUCK_P, STUCK_AP])
    lv = normalise(level_ll[..., defects])
    with np.errstate(divide="ignore"):
        bv = normalise(bias_ll[..., defects] + np.log(weights[defects]))
    sure_l, sure_b = lv.max(axis=-1) >= SURE, bv.max(axis=-1) >= SURE
    a, b = lv.argmax(axis=-1)[..., None], bv.argmax(axis=-1)[..., None]
    signature = bias_ll[..., defects]
    odds = np.take_along_axis(signature, b, -1) - np.take_along_axis(signature, a, -1)
    against = odds[..., 0] >= np.log(SURE / (1.0 - SURE))
    return stuck_like & sure_l & sure_b & (a[..., 0] != b[..., 0]) & against


def held_out_levels(
    x: np.ndarray,
    codes: np.ndarray,
    clean: np.ndarray,
    x_p: np.ndarray,
    x_ap: np.ndarray,
    centre_p: np.ndarray,
    centre_ap: np.ndarray,
) -> list[tuple[str, int, float, float]]:
    """Per stuck class: (name, devices, KS distance, p-value) of its devices' levels against
    the same state's levels of the clean switchers (both about their array's centre)."""
    out = []
    for code, xs, cen in ((STUCK_P, x_p, centre_p), (STUCK_AP, x_ap, centre_ap)):
        called = codes == code
        if int(called.sum()) < MIN_CHECKED:
            continue
        ref = (xs - cen[:, None])[clean]
        got = (x - cen[:, None])[called]
        dist, p_value = ks_two_sided(got[np.isfinite(got)], ref[np.isfinite(ref)])
        out.append((NAMES[code], int(called.sum()), dist, p_value))
    return out


def excess_on_side(
    post: np.ndarray,
    x: np.ndarray,
    clean: np.ndarray,
    x_state: np.ndarray,
    centre: np.ndarray,
    stuck: int,
    rival: int,
    upper: bool,
    ref: float | None = None,
    tie: float = 0.0,
) -> tuple[np.ndarray, float]:
    """Move posterior from ``stuck`` to ``rival`` where the data show the rival hiding.

    The devices called ``stuck`` should sit on either side of the switchers' median level
    of that state equally often (the level fit never saw them: a held-out check). If
    significantly more sit on the rival's side (``upper``: above, where shorts are; else
    below, where resistive opens are), the excess ``pi = (n_side - n_other) / n_side`` of
    them is another population: on that side no ``stuck`` call can be surer than ``1 - pi``.
    ``ref``: that median if the caller has it (:class:`~mtj_hil.protocols.defects.levels.LevelStats`).
    ``tie``: half a converter step (log units) about ``ref`` that counts on neither side:
    with coarse readings most switchers read the median's code exactly, and a stuck
    device averaged over more reads lands just off it on either side by rounding alone.
    Returns the corrected posterior and ``pi``."""
    p = np.nan_to_num(post)
    called = p.argmax(axis=-1) == stuck
    z = x - centre[:, None]
    if ref is None:
        ref = median((x_state - centre[:, None])[clean])
    above, below = z > ref + tie, z < ref - tie
    side, other = (above, below) if upper else (below, above)
    n_side, n_other = int((called & side).sum()), int((called & other).sum())
    n = n_side + n_other
    if n < MIN_CHECKED or n_side - n_other <= CROWD_SIGMAS * np.sqrt(n):
        return post, 0.0
    pi = (n_side - n_other) / n_side
    cap = 1.0 - pi
    hit = side & (p[..., stuck] > cap)
    out = post.copy()
    moved = np.where(hit, p[..., stuck] - cap, 0.0)
    out[..., stuck] = np.where(hit, cap, out[..., stuck])
    out[..., rival] = out[..., rival] + moved
    return out, float(pi)


def posterior_check(post: np.ndarray, codes: np.ndarray, stuck_like: np.ndarray) -> dict:
    """Expected wrong calls among the non-switching devices that were called (not
    UNCERTAIN), from their posteriors, and the classes competing in UNCERTAIN devices."""
    p = np.nan_to_num(post)
    called = stuck_like & (codes != UNCERTAIN)
    conf = np.take_along_axis(p, np.minimum(codes, 4)[..., None].astype(np.intp), axis=-1)[..., 0]
    expected = float((1.0 - conf[called]).sum())
    pairs: Counter[str] = Counter()
    unc = codes == UNCERTAIN
    if unc.any():
        order = np.argsort(-p[unc], axis=-1)[:, :2]
        for a, b in order:
            pairs[" / ".join(sorted((NAMES[a], NAMES[b])))] += 1
    return {"called": int(called.sum()), "expected_wrong": expected, "competing": dict(pairs)}


def warnings_for(
    overlap: dict[str, float],
    checks: dict[str, Any],
    shorts_found: bool,
    bias_note: str,
) -> list[str]:
    """The overlap and check sentences (each names its figure and how it was obtained)."""
    out = []
    if overlap["stuck_state"] > 0.01:
        out.append(
            "P and AP conductances overlap: from the levels alone a device that does not "
            f"switch would get the wrong stuck state with probability "
            f"{100 * overlap['stuck_state']:.1f} % (fitted level distributions); each stuck "
            "call carries its confidence" + bias_note
        )
    if overlap["short_vs_p"] > 0.01 and shorts_found:
        out.append(
            "short and P conductances overlap: a non-switching device near the P level is "
            f"confused with a short with probability {100 * overlap['short_vs_p']:.1f} % "
            "(fitted distributions); devices the evidence cannot settle are UNCERTAIN"
        )
    pc = checks["posterior"]
    if pc["called"] and pc["expected_wrong"] > 0.01 * pc["called"]:
        out.append(
            f"of {pc['called']} devices called SHORT, OPEN or stuck, an expected "
            f"{pc['expected_wrong']:.1f} ({100 * pc['expected_wrong'] / pc['called']:.1f} %) "
            "are in the wrong class (posterior check: one minus each call's confidence)"
        )
    for name, n, d, pval in checks["held_out"]:
        if pval < KS_P:
            out.append(
                f"held-out check failed for {name}: the levels of the {n} devices called "
                f"{name} do not follow the {name.split('_')[1]} level of the devices that "
                f"switched (Kolmogorov-Smirnov distance {d:.2f}, p = {pval:.1g}): another "
                "population (shorts, opens or another device size) may hide among them, and "
                "their stated confidences are optimistic"
            )
    for label, share in checks.get("hidden_share", {}).items():
        if share > 0:
            out.append(
                f"held-out check: the devices called {label.split(' among ')[1]} crowd the side "
                f"of their level where {label.split(' among ')[0]} sit; about "
                f"{100 * share:.0f} % of those there are taken to be hidden "
                f"{label.split(' among ')[0]} devices, and no call there is surer than that allows"
            )
    n_conf, n_both = checks.get("view_conflicts", 0), checks.get("view_compared", 0)
    if n_conf:
        out.append(
            f"the level alone and the bias signature alone confidently disagree on {n_conf} "
            f"of {n_both} non-switching devices ({100 * n_conf / max(n_both, 1):.1f} %): "
            "the fitted model does not describe them, and they are UNCERTAIN"
        )
    if pc["competing"]:
        top = ", ".join(f"{k} {v}" for k, v in sorted(pc["competing"].items(), key=lambda i: -i[1]))
        out.append(f"competing classes of the UNCERTAIN devices: {top}")
    return out


FLOOR_SHARE = 0.2
"""Share of the devices with valid readings whose mean reading is at or below 0 S past
which a die may be read at the noise floor: reads of no current scatter about 0, so half of
such devices fall at or below it, and this share means about 40 % of the die reads nothing."""
FLOOR_CONTRAST = 10.0
"""...unless the devices reading above 0 S stand this many times above the scatter below it
(medians): the die's live part reads real currents, and the rest is dead arrays or open
lines, which the classifier calls OPEN."""
MIN_FLOOR_DEVICES = 20
"""Fewer devices with valid readings than this and the floor check is not made."""


def at_noise_floor(ok: np.ndarray, g_lin: np.ndarray) -> str | None:
    """Why a die is refused as read at the noise floor, or None: more than
    :data:`FLOOR_SHARE` of the ``ok`` devices read at or below 0 S on average, and the rest
    read no more than :data:`FLOOR_CONTRAST` times the scatter below 0 (a read voltage typed
    far too small, a lifted probe: nothing stands above the noise). Checked before any fit:
    with one cycle and one read the noise is assumed, and the scatter of reads about 0
    would otherwise pass for switching."""
    valid = np.asarray(ok, bool) & np.isfinite(g_lin)
    n = int(valid.sum())
    dark = valid & (g_lin <= 0.0)
    if n < MIN_FLOOR_DEVICES or int(dark.sum()) <= FLOOR_SHARE * n:
        return None
    lit = g_lin[valid & (g_lin > 0.0)]
    level = median(lit) if lit.size else 0.0
    scatter = median(-g_lin[dark])
    if level > FLOOR_CONTRAST * scatter:
        return None
    return (
        f"refusing to classify: {int(dark.sum())} of {n} devices read at or below 0 S on "
        f"average, and the others ({level:.3g} S, median) stand "
        f"no more than {FLOOR_CONTRAST:g} times above that scatter ({scatter:.3g} S): the "
        "currents are lost in the read path's noise; raise the read voltage (the currents it "
        "gives must stand well above the noise), and check the probe contact and the wiring"
    )


MAX_READS_FACTOR = 100
"""Most times as many reads a refusal suggests averaging; past it the reads are lost in the
read path's noise (a read voltage too low, the wiring), not merely noisy."""


def nothing_switched(
    ev: Evidence,
    dbar: np.ndarray,
    ok: np.ndarray,
    sd: float,
    n: int,
    switch_sigmas: float,
    need: int = 0,
) -> str:
    """Why a die is refused: how few devices switched by ``switch_sigmas`` x the per-cycle
    noise ``sd`` (``need``: how many the fit needs), and what the readings show (levels,
    saturated or missing readings)."""
    total = int(np.asarray(ev.n_valid).size)
    n_ok = int(ok.sum())
    if n * 2 >= total:  # most did switch: the die (or the arrays measured) is too small
        return (
            f"refusing to classify: {n} of {total} devices switched cleanly, but the level "
            f"fit needs at least {need}; measure more arrays (or a die with more devices)"
        )
    parts = [
        f"refusing to classify: only {n} of {total} devices switched cleanly (P/AP log ratio "
        f"above {switch_sigmas:g} x the per-cycle noise {sd:.3g} in every cycle, and at most "
        "ln 11, the most a junction switches: larger changes are noise around no current)"
    ]
    if n_ok:
        gp = float(np.exp(np.nanmedian(np.asarray(ev.x_p)[np.asarray(ev.n_valid) > 0])))
        ga = float(np.exp(np.nanmedian(np.asarray(ev.x_ap)[np.asarray(ev.n_valid) > 0])))
        contrast = float(np.median(dbar[ok]))
        seen = f"median G after P writes {gp:.3g} S, after AP writes {ga:.3g} S, median ln ratio {contrast:.3g}"
        factor = (
            int(np.ceil((1.5 * switch_sigmas * sd / contrast) ** 2))
            if sd > 0 and 0 < contrast < switch_sigmas * sd
            else 0
        )
        if 0 < factor <= MAX_READS_FACTOR:
            # the devices do switch on average: the noise of one cycle's read hides it, and
            # averaging N reads divides that noise by sqrt(N)
            parts.append(
                f"{seen}: the devices switch on average, but the read noise ({sd:.3g} per "
                f"cycle) is large against that contrast; average more reads per cycle "
                f"(--reads, about {factor} times as many)"
            )
        else:
            parts.append(
                f"{seen}: the devices did not switch, or the reads cannot tell; check the "
                "write pulse, the read voltage (the currents it gives must stand well above "
                "the read path's noise) and the wiring"
            )
    n_sat, n_none = int(np.sum(ev.saturated)), int(np.sum(np.asarray(ev.n_valid) == 0))
    if n_sat:
        parts.append(f"{n_sat} devices saturated the converter (lower the read voltage)")
    if n_none:
        parts.append(f"{n_none} devices gave no valid reading (NaN)")
    return "; ".join(parts)
