"""From switching counts to a die's write parameters: per-device and per-array fits of both
directions, write-error rate with uncertainty, a pulse recommendation, read-disturb counts.

The fit of each array's devices (:func:`mtj_hil.protocols.switching.fit.fit_devices`) assumes the
write-error floor measured die-wide from the points set aside for it. The write-error rate
(WER) of a pulse is the mean over fitted devices of ``f + (1 - f) exp(-t / tau)``; its 90 %
band comes from drawing each device's parameters from its fit uncertainty and the floor from
its binomial posterior. Devices that never switched are defects, not slow devices: they are
counted and left out of the WER (a defect map handles them).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from scipy import stats

from mtj_hil.protocols.chip import CellState, Limits
from mtj_hil.protocols.switching.fit import (
    STATUS_NEVER_SWITCHED,
    STATUS_OK,
    FloorEstimate,
    fit_devices,
    population,
    write_error_rate,
)
from mtj_hil.protocols.switching.procedure import ArraySwitching

FIRST_PASS_FLOOR = 1e-4
"""Floor assumed by the first pass, which only finds the saturated points."""
MIN_FLOOR = 1e-7
"""Smallest floor any fit assumes."""
WER_DEVICES = 1000
"""Fitted devices drawn (at random, fixed seed) to evaluate the die's WER."""
WER_DRAWS = 48
"""Parameter draws per device for the WER band."""


@dataclass
class DirectionFit:
    """Fits of one direction (target state) over the measured arrays.

    ``vc``, ``vc_sd`` (V), ``delta``, ``delta_sd``, ``status`` have shape
    ``(n_arrays, rows, cols)``; ``per_array`` holds :func:`population` of each array.
    """

    direction: CellState
    vc: np.ndarray
    vc_sd: np.ndarray
    delta: np.ndarray
    delta_sd: np.ndarray
    status: np.ndarray
    cov: np.ndarray
    floor: FloorEstimate
    per_array: list[dict[str, float]]
    population: dict[str, float]

    @property
    def never_switched(self) -> int:
        return int((self.status == STATUS_NEVER_SWITCHED).sum())


@dataclass
class WerCurve:
    """Die write-error rate on a grid: ``median``, ``low``, ``high`` (90 % band) of shape
    ``(len(widths), len(amplitudes))``."""

    amplitudes: np.ndarray
    widths: np.ndarray
    median: np.ndarray
    low: np.ndarray
    high: np.ndarray


@dataclass
class Recommendation:
    """The pulse that reaches ``target`` (upper 90 % bound of the WER, both directions) with
    the least ``V^2 t``, or ``found = False`` and the best pulse the envelope allows."""

    found: bool
    target: float
    amplitude: float
    width: float
    wer: float
    wer_high: float
    statement: str


@dataclass
class SwitchingAnalysis:
    """Everything fitted from one switching run."""

    arrays: list[int]
    tau0: float
    directions: dict[str, DirectionFit]
    wer: dict[str, WerCurve]
    recommendation: Recommendation
    disturb: dict[str, Any] = field(default_factory=dict)


def _stack(data: ArraySwitching, direction: CellState) -> tuple[np.ndarray, ...]:
    sel = data.direction == int(direction)
    n = int(sel.sum())
    return (
        data.amplitude[sel],
        data.width[sel],
        data.trials[sel].reshape(n, -1).astype(float),
        data.switched[sel].reshape(n, -1).astype(float),
        data.floor_point[sel],
    )


def fit_direction(
    arrays: list[int], data: dict[int, ArraySwitching], direction: CellState, tau0: float
) -> DirectionFit:
    """Fit every device of the arrays for one direction (see the module docstring)."""
    first = data[arrays[0]]
    shape = (len(arrays), *first.trials.shape[1:])
    # Pass 1 without a floor finds the devices/points that saturate; the floor is pooled
    # from the set-aside points there; pass 2 fits with it.
    fails = n_tot = 0
    for a in arrays:
        amp, wid, n, k, is_floor = _stack(data[a], direction)
        fit0 = fit_devices(amp, wid, n, k, tau0=tau0, floor=FIRST_PASS_FLOOR)
        miss = write_error_rate(amp[:, None], wid[:, None], fit0.vc[None], fit0.delta[None], tau0)
        use = is_floor[:, None] & (fit0.status == STATUS_OK)[None] & (miss < 1e-9)
        n_tot += int(n[use].sum())
        fails += int((n - k)[use].sum())
    floor = _floor(fails, n_tot)
    # Never assume exactly no floor: one failure the floor points missed would then be
    # impossible under the model and wreck that device's fit.
    f = max(floor.value if np.isfinite(floor.value) else 0.0, MIN_FLOOR)
    out = {k: np.full(shape, np.nan) for k in ("vc", "vc_sd", "delta", "delta_sd")}
    status = np.zeros(shape, np.uint8)
    cov = np.full((*shape, 2, 2), np.nan)
    per_array = []
    for i, a in enumerate(arrays):
        amp, wid, n, k, _ = _stack(data[a], direction)
        fit = fit_devices(amp, wid, n, k, tau0=tau0, floor=f)
        for key in out:
            out[key][i] = getattr(fit, key).reshape(shape[1:])
        status[i] = fit.status.reshape(shape[1:])
        cov[i] = fit.cov.reshape(*shape[1:], 2, 2)
        per_array.append(
            population(fit.vc, fit.vc_sd, fit.delta, fit.delta_sd, fit.status, fit.cov)
        )
    return DirectionFit(
        direction=direction,
        status=status,
        cov=cov,
        floor=floor,
        per_array=per_array,
        population=population(out["vc"], out["vc_sd"], out["delta"], out["delta_sd"], status, cov),
        **out,
    )


def _floor(fails: int, n: int) -> FloorEstimate:
    if n == 0:
        return FloorEstimate(float("nan"), 0.0, 1.0, 0, 0)
    low = float(stats.beta.ppf(0.05, fails, n - fails + 1)) if fails > 0 else 0.0
    high = float(stats.beta.ppf(0.95, fails + 1, n - fails)) if fails < n else 1.0
    return FloorEstimate(fails / n, low, high, fails, n)


def wer_curve(
    fit: DirectionFit, limits: Limits, tau0: float, seed: int = 0, n_amplitudes: int = 60
) -> WerCurve:
    """The die's WER over the envelope's amplitudes and widths (see the module docstring)."""
    amps = np.linspace(limits.min_pulse_amplitude, limits.max_pulse_amplitude, n_amplitudes)
    lo_w, hi_w = np.log10(limits.min_pulse_width), np.log10(limits.max_pulse_width)
    widths = np.logspace(lo_w, hi_w, max(2, int(round(hi_w - lo_w)) * 2 + 1))
    ok = (fit.status == STATUS_OK).ravel()
    shape = (len(widths), len(amps))
    if not ok.any():
        nan = np.full(shape, np.nan)
        return WerCurve(amps, widths, nan, nan, nan)
    rng = np.random.default_rng(seed)
    idx = np.flatnonzero(ok)
    if idx.size > WER_DEVICES:
        idx = np.sort(rng.choice(idx, WER_DEVICES, replace=False))
    delta = fit.delta.ravel()[idx]
    vc = fit.vc.ravel()[idx]
    theta = np.stack([-delta, delta / vc], axis=1)
    cov = fit.cov.reshape(-1, 2, 2)[idx]
    chol = np.linalg.cholesky(cov + 1e-12 * np.eye(2))
    z = rng.standard_normal((WER_DRAWS, idx.size, 2))
    draws = theta[None] + np.einsum("dij,kdj->kdi", chol, z)
    d_delta = -draws[..., 0]
    d_vc = np.where(draws[..., 1] > 0, d_delta / np.maximum(draws[..., 1], 1e-9), np.inf)
    fl = fit.floor
    floor_draws = (
        stats.beta.rvs(
            fl.failures + 0.5, fl.trials - fl.failures + 0.5, size=WER_DRAWS, random_state=rng
        )
        if fl.trials > 0
        else np.zeros(WER_DRAWS)
    )
    med, low, high = (np.empty(shape) for _ in range(3))
    for i, w in enumerate(widths):
        miss = write_error_rate(
            amps[None, None, :], w, d_vc[..., None], d_delta[..., None], tau0
        ).mean(axis=1)  # (draws, amplitudes)
        wer = floor_draws[:, None] + (1 - floor_draws[:, None]) * miss
        med[i], low[i], high[i] = np.quantile(wer, [0.5, 0.05, 0.95], axis=0)
    return WerCurve(amps, widths, med, low, high)


def recommend(
    curves: dict[str, WerCurve],
    limits: Limits,
    target: float,
    floors: dict[str, FloorEstimate] | None = None,
) -> Recommendation:
    """The least-energy (``V^2 t``) pulse whose WER upper bound meets ``target`` in both
    directions, or a statement of why none inside the envelope does (then the least-energy
    pulse within 10 % of the lowest WER, and the floor that limits it if it does). A
    direction whose floor was not measured (``floors``, no trials) recommends nothing: the
    statement gives what the fit alone says."""
    first = next(iter(curves.values()))
    high = np.max([c.high for c in curves.values()], axis=0)
    med = np.max([c.median for c in curves.values()], axis=0)
    energy = first.widths[:, None] * first.amplitudes[None, :] ** 2
    ok = high <= target
    unmeasured = [name for name, fl in (floors or {}).items() if fl.trials == 0]
    if ok.any():
        i, j = np.unravel_index(np.argmin(np.where(ok, energy, np.inf)), ok.shape)
        amp, wid = float(first.amplitudes[j]), float(first.widths[i])
        said = f"{amp:.3g} V x {wid:.3g} s reaches WER {med[i, j]:.2g}"
        if unmeasured:
            # the fit alone knows no floor: a die's (often near 1e-3) would hide any WER below it
            said = (
                "not recommended: the write-error floor was not measured "
                f"({' and '.join(unmeasured)}: no set-aside floor trials), and it bounds the WER "
                f"any pulse can reach; without a floor the fit says {said}, which only measured "
                "floor trials can confirm"
            )
        else:
            said += f" (90 % bound {high[i, j]:.2g}) <= {target:.2g} in both directions"
        return Recommendation(
            not unmeasured, target, amp, wid, float(med[i, j]), float(high[i, j]), said
        )
    if not np.isfinite(med).any():
        return Recommendation(
            False,
            target,
            float("nan"),
            float("nan"),
            float("nan"),
            float("nan"),
            "no device could be fitted: no pulse can be recommended",
        )
    near = med <= 1.1 * np.nanmin(med)
    i, j = np.unravel_index(np.argmin(np.where(near, energy, np.inf)), med.shape)
    amp, wid = float(first.amplitudes[j]), float(first.widths[i])
    limited = ""
    for name, fl in (floors or {}).items():
        if fl.trials and fl.failures == 0 and fl.high >= target:
            limited += (
                f"; the {name} write-error floor is only bounded (< {fl.high:.2g}, 90 %) by "
                f"{fl.trials} set-aside trials without a failure: more floor trials tighten it"
            )
        elif fl.trials and fl.high >= target and fl.value >= 0.5 * med[i, j]:
            limited += (
                f"; limited by the {name} write-error floor {fl.value:.2g} "
                f"(90 % {fl.low:.2g}..{fl.high:.2g})"
            )
    return Recommendation(
        False,
        target,
        amp,
        wid,
        float(med[i, j]),
        float(high[i, j]),
        f"no pulse inside the safety envelope (<= {limits.max_pulse_amplitude:g} V, "
        f"<= {limits.max_pulse_width:g} s) reaches WER {target:.2g}; the best is "
        f"{med[i, j]:.2g} (90 % bound {high[i, j]:.2g}) at {amp:.3g} V x {wid:.3g} s{limited}",
    )


def disturb_summary(
    arrays: list[int], data: dict[int, ArraySwitching], reads: int, voltage: float
) -> dict[str, Any]:
    """Flips counted in the read-disturb reads, per start state, with the per-read flip
    probability and its 90 % upper bound (Clopper-Pearson)."""
    out: dict[str, Any] = {"reads_per_device": int(reads), "voltage": float(voltage)}
    for k, name in enumerate(("from_p", "from_ap")):
        flips = int(sum(int(data[a].disturb_flips[k].sum()) for a in arrays))
        devices = int(sum(int(data[a].disturb_valid[k].sum()) for a in arrays))
        exposures = devices * reads
        upper = (
            float(stats.beta.ppf(0.95, flips + 1, max(exposures - flips, 1))) if exposures else 1.0
        )
        out[name] = {
            "flips": flips,
            "devices": devices,
            "per_read": flips / exposures if exposures else float("nan"),
            "per_read_upper90": upper,
        }
    return out


def analyse(
    data: dict[int, ArraySwitching],
    arrays: list[int],
    limits: Limits,
    *,
    tau0: float,
    target_wer: float,
    disturb_reads: int,
    disturb_voltage: float,
) -> SwitchingAnalysis:
    """Fit both directions, the WER and the recommendation of a measured die."""
    directions = {s.name: fit_direction(arrays, data, s, tau0) for s in (CellState.AP, CellState.P)}
    curves = {k: wer_curve(v, limits, tau0) for k, v in directions.items()}
    return SwitchingAnalysis(
        arrays=list(arrays),
        tau0=tau0,
        directions=directions,
        wer=curves,
        recommendation=recommend(
            curves, limits, target_wer, {k: v.floor for k, v in directions.items()}
        ),
        disturb=disturb_summary(arrays, data, disturb_reads, disturb_voltage),
    )
