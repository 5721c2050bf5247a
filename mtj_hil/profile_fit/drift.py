"""The ``[drift]`` section fitted from how the arrays' resistance levels move with the time
each array was measured (``characterization/array_time``).

Per array, the medians of ln R_P and ln R_AP of its GOOD devices (with their sampling
covariance: ``pi/2 sigma^2 / n`` on the diagonal, ``arcsin(rho) sigma_P sigma_AP / n`` off it)
and the ln G of each SHORT device are modelled as the simulator draws them,

    ln R_s(t) = c_s,g + ln(1 + tc_s dT_g(t)),   dT_g(t) = ramp t + amplitude sin(2 pi t / period + phi_g),

with an offset ``c`` per state and segment ``g`` (one session of one run: each die has its
own resistances, each run its own phase of the swing) and ``t`` the middle of the array's
measurement. Resistances alone cannot tell a temperature from a temperature coefficient
(only the products ``tc dT`` are seen): the temperature scale is fixed by ``tc_r_ap`` of the
base profile's ``[drift]`` (else the simulator's default, -1.5e-3 /K, the MgO literature
value), which stays listed as a default; ``ramp``, ``amplitude``, ``tc_r_p`` and
``tc_short`` are fitted in that scale.

Three nested models (offsets only; a ramp; a ramp and a periodic swing, its period by a grid
search then least squares) are compared by F-tests against the fullest one's residual
scatter (so array-to-array scatter beyond sampling inflates every uncertainty rather than
faking drift); the section is written only when drift passes at ``P_DRIFT``, the swing kept
only when it passes too. Uncertainties: the least-squares covariance times that scatter.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import least_squares
from scipy.stats import f as f_dist
from threadpoolctl import threadpool_limits

from mtj_hil.profile_fit.resistance import robust_sd
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.sim.profile_sections import Drift

P_DRIFT = 1e-6
"""False-alarm probability of the F-test that keeps drift (and, apart, the periodic swing)."""
MIN_GOOD = 20
"""GOOD devices an array needs for its medians to count."""
TC_SHORT_MAX_SD = 1e-3
"""``tc_short`` is written only when fitted to better than this (1/K); else the base's."""


@dataclass
class Segment:
    """One session of one run: per array the mid time (s), the medians of ln R_P, ln R_AP
    and their 2x2 sampling covariance, and per SHORT device its time and ln G."""

    t: np.ndarray
    y: np.ndarray  # (n, 2): ln R_P, ln R_AP medians
    cov: np.ndarray  # (n, 2, 2)
    t_short: np.ndarray = field(default_factory=lambda: np.zeros(0))
    y_short: np.ndarray = field(default_factory=lambda: np.zeros(0))


@dataclass
class DriftFit:
    """The fit: ``values`` key -> (value, sd or None, source); ``shown`` whether the data show
    drift; ``ap_shift(g, t)`` the fitted ln R_AP change of segment ``g`` at times ``t``."""

    shown: bool
    values: dict[str, tuple[float, float | None, str]]
    params: dict[str, float]
    phases: np.ndarray
    ref: float
    p_value: float

    def delta_t(self, g: int, t: np.ndarray) -> np.ndarray:
        """Fitted temperature change (K, in the reference scale) of segment ``g``."""
        p = self.params
        w = 2 * np.pi / p["period"]
        return p["ramp"] * t + p["amplitude"] * np.sin(w * t + self.phases[g])

    def ap_shift(self, g: int, t: np.ndarray) -> np.ndarray:
        return np.log1p(self.ref * self.delta_t(g, t)) if self.shown else np.zeros_like(t)


def run_segments(char) -> list[tuple[Segment, np.ndarray]] | None:
    """The segments of one characterisation (and per segment the positions of its arrays in
    ``char.arrays``); None when the file records no times (or times that are not finite:
    a file changed by another program, its times unusable)."""
    if char.array_time is None or char.codes is None:
        return None
    if not np.isfinite(char.array_time).all():
        return None
    done = [int(a) for a in char.arrays_done]
    k = np.array([done.index(int(a)) for a in char.arrays])
    mid = char.array_time[k].mean(axis=1)
    session = np.searchsorted(np.asarray(char.clock_sessions or [0]), k, side="right") - 1
    good = char.codes == DefectCode.GOOD
    short = char.codes == DefectCode.SHORT
    out = []
    for s in np.unique(session):
        pos, t, y, cov = [], [], [], []
        ts, ys = [], []
        for i in np.nonzero(session == s)[0]:
            g_s = np.sqrt(char.g_p[i][short[i]] * char.g_ap[i][short[i]])
            ys += list(np.log(g_s[g_s > 0]))
            ts += [mid[i]] * int((g_s > 0).sum())
            sel = good[i] & (char.g_p[i] > 0) & (char.g_ap[i] > 0)
            if sel.sum() < MIN_GOOD:
                continue
            lp, lap = -np.log(char.g_p[i][sel]), -np.log(char.g_ap[i][sel])
            sp, sa = robust_sd(lp), robust_sd(lap)
            rho = _robust_corr(lp, lap)
            n = lp.size
            c = np.arcsin(rho) * sp * sa / n
            pos.append(i)
            t.append(mid[i])
            y.append((np.median(lp), np.median(lap)))
            cov.append([[np.pi / 2 * sp * sp / n, c], [c, np.pi / 2 * sa * sa / n]])
        if len(t) >= 4:
            seg = Segment(np.array(t), np.array(y), np.array(cov), np.array(ts), np.array(ys))
            out.append((seg, np.array(pos)))
    return out


def _robust_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Correlation from robust spreads of the sum and difference of standardised values."""
    za = (a - np.median(a)) / max(robust_sd(a), 1e-12)
    zb = (b - np.median(b)) / max(robust_sd(b), 1e-12)
    s, d = robust_sd(za + zb) ** 2, robust_sd(za - zb) ** 2
    return float(np.clip((s - d) / max(s + d, 1e-12), -0.999, 0.999))


class _Model:
    """Residuals of the drift model over all segments, whitened (see the module docstring)."""

    def __init__(self, segs: list[Segment], ref: float, swing: int, shorts: bool) -> None:
        """``swing``: 0 none, 1 the profile's law (phase 0 at each run's start), 2 a phase
        per segment (a swing not in step with the runs' starts)."""
        self.segs, self.ref, self.swing, self.shorts = segs, ref, swing, shorts
        self.white = [np.linalg.inv(np.linalg.cholesky(s.cov)) for s in segs]
        ys = [s.y_short - np.median(s.y_short) for s in segs if s.y_short.size]
        pooled = np.concatenate(ys) if ys else np.zeros(0)
        self.short_sd = max(robust_sd(pooled), 1e-3) if pooled.size >= 10 else 0.0
        self.shorts = shorts and self.short_sd > 0
        self.n_g = len(segs)
        self._stack()

    def _stack(self) -> None:
        """Every segment's points in one array each, with the segment of each point and the
        order that puts the residuals back segment by segment (main reads, then shorts)."""
        segs = self.segs
        sizes = [s.t.size for s in segs]
        shorts = [s.t_short.size if self.shorts and s.y_short.size else 0 for s in segs]
        self.seg_of = np.repeat(np.arange(len(segs)), sizes)
        self.t = np.concatenate([s.t for s in segs])
        self.y = np.concatenate([s.y for s in segs])
        self.white_all = np.concatenate(self.white)
        used = [s for s, m in zip(segs, shorts, strict=True) if m]
        self.seg_of_short = np.repeat(np.arange(len(segs)), shorts)
        self.t_short = np.concatenate([s.t_short for s in used]) if used else np.zeros(0)
        self.y_short = np.concatenate([s.y_short for s in used]) if used else np.zeros(0)
        main_at = np.r_[0, np.cumsum(2 * np.asarray(sizes))]
        short_at = main_at[-1] + np.r_[0, np.cumsum(shorts)]
        self.order = np.concatenate(
            [
                np.r_[
                    np.arange(main_at[g], main_at[g + 1]), np.arange(short_at[g], short_at[g + 1])
                ]
                for g in range(len(segs))
            ]
        ).astype(int)

    def unpack(self, th: np.ndarray) -> dict:
        g = self.n_g
        out = {"ramp": th[0], "k_p": th[1], "k_s": th[2] if self.shorts else 0.0}
        i = 3 if self.shorts else 2
        if self.swing:
            n_ph = g if self.swing == 2 else 0
            out["amplitude"], out["period"] = th[i], float(np.exp(th[i + 1]))
            out["phases"] = th[i + 2 : i + 2 + n_ph] if n_ph else np.zeros(g)
            i += 2 + n_ph
        else:
            out["amplitude"], out["period"], out["phases"] = 0.0, 1.0, np.zeros(g)
        out["c"] = th[i : i + 3 * g].reshape(g, 3)
        return out

    def residuals(self, th: np.ndarray) -> np.ndarray:
        """Whitened residuals, segment by segment: each point's two reads, then its shorts."""
        p = self.unpack(th)
        w = 2 * np.pi / p["period"]
        c, phases = p["c"], np.asarray(p["phases"])
        g = self.seg_of
        dt = p["ramp"] * self.t + p["amplitude"] * np.sin(w * self.t + phases[g])
        pred = np.stack(
            [
                c[g, 0] + np.log1p(np.clip(p["k_p"] * dt, -0.9, None)),
                c[g, 1] + np.log1p(np.clip(self.ref * dt, -0.9, None)),
            ],
            axis=1,
        )
        res = [np.einsum("nij,nj->ni", self.white_all, self.y - pred).ravel()]
        if self.t_short.size:
            gs = self.seg_of_short
            ds = p["ramp"] * self.t_short + p["amplitude"] * np.sin(w * self.t_short + phases[gs])
            pred_s = c[gs, 2] + np.log1p(np.clip(p["k_s"] * ds, -0.9, None))
            res.append((self.y_short - pred_s) / self.short_sd)
        return np.concatenate(res)[self.order]

    def start(self, ramp: float, k_p: float, swing=None) -> np.ndarray:
        th = [ramp, k_p] + ([0.0] if self.shorts else [])
        if self.swing:
            amp, period, phases = swing
            th += [amp, np.log(period)]
            th += list(np.broadcast_to(phases, (self.n_g,))) if self.swing == 2 else []
        for s in self.segs:
            cs = np.median(s.y_short) if s.y_short.size else 0.0
            th += [float(np.median(s.y[:, 0])), float(np.median(s.y[:, 1])), float(cs)]
        return np.asarray(th, float)


def _fit(model: _Model, th0: np.ndarray):
    r = least_squares(model.residuals, th0, method="lm" if th0.size < 400 else "trf")
    return r, float((r.fun**2).sum())


def _swing_start(segs: list[Segment], ref: float, each: bool):
    """Amplitude, period, phases and ramp of the best swing on ln R_AP (linearised, period
    grid; ``each``: a phase per segment, else phase 0 at each segment's start)."""
    spans = [np.ptp(s.t) for s in segs]
    steps = [np.median(np.diff(np.sort(s.t))) for s in segs if s.t.size > 1]
    lo, hi = 4 * max(float(np.median(steps)), 1e-9), 2 * max(max(spans), 1e-9)
    if hi <= lo:
        return None
    with threadpool_limits(1, user_api="blas"):  # 160 small solves: threads only cost time
        best = _period_grid(segs, each, np.geomspace(lo, hi, 160))
    _, period, beta = best
    a, b = beta[len(segs) : -1 : 2] / ref, beta[len(segs) + 1 : -1 : 2] / ref
    return float(np.mean(np.hypot(a, b))), float(period), np.arctan2(b, a), float(beta[-1] / ref)


def _period_grid(segs: list[Segment], each: bool, periods: np.ndarray):
    """``(chi-square, period, coefficients)`` of the period in ``periods`` whose linearised
    swing fits ln R_AP best (see :func:`_swing_start`)."""
    best = None
    for period in periods:
        w = 2 * np.pi / period
        cols, y, wt = [], [], []
        n_g = len(segs)
        m = n_g if each else 1
        for g, s in enumerate(segs):
            n = s.t.size
            x = np.zeros((n, n_g + 2 * m + 1))
            x[:, g] = 1
            j = n_g + 2 * (g if each else 0)
            x[:, j] = np.sin(w * s.t)
            x[:, j + 1] = np.cos(w * s.t) if each else 0.0
            x[:, -1] = s.t
            cols.append(x)
            y.append(s.y[:, 1])
            wt.append(1 / np.sqrt(s.cov[:, 1, 1]))
        x, yv, wv = np.vstack(cols), np.concatenate(y), np.concatenate(wt)
        beta, *_ = np.linalg.lstsq(x * wv[:, None], yv * wv, rcond=None)
        chi = float((((x @ beta) - yv) * wv) ** 2 @ np.ones(yv.size))
        if best is None or chi < best[0]:
            best = (chi, period, beta)
    return best


def _swing_allowed(p: dict, segs: list[Segment]) -> bool:
    """A swing the profile can hold (``Drift.RANGES``) with a period inside the grid searched
    (else it is a ramp's curvature, or another flaw's scatter, not a swing)."""
    spans = max(float(np.ptp(s.t)) for s in segs)
    lo, hi = Drift.RANGES["amplitude"][:2]
    return bool(lo <= abs(p["amplitude"]) <= hi and 0 < p["period"] <= 2 * spans)


def fit_drift(segs: list[Segment], ref: float) -> DriftFit:
    """Fit the drift model to ``segs`` with ``tc_r_ap = ref`` (see the module docstring)."""
    m0 = _Model(segs, ref, swing=0, shorts=True)
    # offsets only: the weighted means, as the model with no drift (ramp 0, k_p 0)
    th_flat = m0.start(0.0, 0.0)
    fixed = least_squares(
        lambda c: m0.residuals(np.r_[th_flat[: -3 * len(segs)], c]), th_flat[-3 * len(segs) :]
    )
    chi0 = float((fixed.fun**2).sum())
    m1 = m0
    r1, chi1 = _fit(m1, m1.start(0.0, 0.0))
    best, chi_best, model = r1, chi1, m1
    p_swing = 1.0
    for each in (1, 2) if len(segs) > 1 else (1,):
        swing = _swing_start(segs, ref, each == 2)
        if swing is None:
            break
        m2 = _Model(segs, ref, swing=each, shorts=True)
        amp, period, phases, ramp = swing
        r2, chi2 = _fit(m2, m2.start(ramp, 0.1 * ref, (amp, period, phases)))
        dof2 = r2.fun.size - r2.x.size
        k = r2.x.size - best.x.size
        p = float(f_dist.sf(((chi_best - chi2) / k) / max(chi2 / dof2, 1e-300), k, dof2))
        swing_ok = _swing_allowed(m2.unpack(r2.x), segs)
        if p < P_DRIFT and swing_ok:
            best, chi_best, model, p_swing = r2, chi2, m2, p
    dof = best.fun.size - best.x.size
    scale = max(chi_best / max(dof, 1), 1.0)
    k = best.x.size - 3 * len(segs)
    p_drift = float(f_dist.sf(((chi0 - chi_best) / k) / (chi_best / max(dof, 1)), k, dof))
    p = model.unpack(best.x)
    try:
        cov = np.linalg.inv(best.jac.T @ best.jac) * scale
    except np.linalg.LinAlgError:
        cov = np.linalg.pinv(best.jac.T @ best.jac) * scale
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    how = (
        f"per-array medians against measurement time, {len(segs)} run segments, scale "
        f"tc_r_ap = {ref:g} /K (F-test p = {p_drift:.1g})"
    )
    values: dict[str, tuple[float, float | None, str]] = {
        "ramp": (float(p["ramp"]), float(sd[0]), how),
        "tc_r_p": (float(p["k_p"]), float(sd[1]), how),
    }
    if model.shorts:
        values["tc_short"] = (float(p["k_s"]), float(sd[2]), how + ", SHORT devices")
    phases = np.asarray(p["phases"], float)
    amp = float(p["amplitude"])
    if model.swing:
        i = 3 if model.shorts else 2
        if amp < 0:
            amp, phases = -amp, phases + np.pi
        values["amplitude"] = (amp, float(sd[i]), how)
        values["period"] = (float(p["period"]), float(p["period"] * sd[i + 1]), how)
    else:
        values["amplitude"] = (0.0, None, f"no periodic swing beyond chance (p = {p_swing:.1g})")
    params = {"ramp": float(p["ramp"]), "amplitude": amp, "period": float(p["period"])}
    return DriftFit(p_drift < P_DRIFT, values, params, phases, ref, p_drift)


def put_drift(
    chars, base, put, data: dict, defaults: list[str]
) -> tuple[list, list[str], str | None]:
    """Fit ``[drift]`` from the runs ``chars`` and put it (``put(section, key, value, sd,
    source)``) when the data show drift, else leave it out. Returns per run the fitted
    ln R_AP change of each array (``char.arrays`` order; None: untimed or no drift), the
    names of the runs that record no times, and what was out of range when the data show
    drift the profile cannot hold (None: nothing)."""
    ref_sec = base.drift or Drift()
    untimed, segs, where = [], [], []
    for r, c in enumerate(chars):
        got = run_segments(c.char)
        if got is None:
            untimed.append(c.name)
            continue
        for seg, pos in got:
            segs.append(seg)
            where.append((r, pos))
    shifts: list = [None] * len(chars)
    if not segs:
        if base.drift is not None:
            defaults += [f"drift.{k}" for k in ("ramp", "amplitude", "period", "tc_r_p")]
            defaults += ["drift.tc_r_ap", "drift.tc_short"]
        return shifts, untimed, None
    fit = fit_drift(segs, ref_sec.tc_r_ap)
    bad = [
        key
        for key, (value, _, _) in fit.values.items()
        if key in Drift.RANGES and not Drift.RANGES[key][0] <= value <= Drift.RANGES[key][1]
    ]
    if not fit.shown or bad:
        data.pop("drift", None)
        if fit.shown:
            problem = ", ".join(f"{k} = {fit.values[k][0]:.3g}" for k in bad)
            return shifts, untimed, problem
        return shifts, untimed, None
    for g, (seg, (r, pos)) in enumerate(zip(segs, where, strict=True)):
        if shifts[r] is None:
            shifts[r] = np.zeros(len(chars[r].char.arrays))
        shifts[r][pos] = fit.ap_shift(g, seg.t)
    data["drift"] = {
        "ramp": 0.0,
        "amplitude": 0.0,
        "period": ref_sec.period,
        "tc_r_p": ref_sec.tc_r_p,
        "tc_r_ap": ref_sec.tc_r_ap,
        "tc_short": ref_sec.tc_short,
    }
    defaults.append("drift.tc_r_ap")
    for key, (value, sd, source) in fit.values.items():
        if key == "tc_short" and (sd is None or sd > TC_SHORT_MAX_SD):
            continue
        put("drift", key, value, sd, source)
    for key in ("period", "tc_short"):
        if key not in fit.values or (key == "tc_short" and fit.values[key][1] > TC_SHORT_MAX_SD):
            defaults.append(f"drift.{key}")
    return shifts, untimed, None
