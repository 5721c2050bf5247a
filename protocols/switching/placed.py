"""Switching trials placed where they inform (``SwitchingPlan.placement = "information"``).

Per array and direction:

1. *locate*: at the middle width of the plan, every other amplitude of the plan's grid in
   ascending order gets ``probe_trials`` trials, until (as the grid sweep) at two
   consecutive amplitudes essentially every device that has switched switched every time;
2. *place*: fit every device (:func:`~mtj_hil.protocols.switching.fit.fit_devices`), let
   :func:`~mtj_hil.protocols.switching.placement.choose_point` pick the next pulse and run
   ``placement_batch`` trials there; repeat until it says stop (the plan's precision
   targets reached by ``done_fraction`` of the devices, or nothing left to learn) or the
   direction's ``placement_budget`` of trials is spent;
3. *floor*: ``floor_trials`` at each width, at the smallest allowed amplitude where the
   fits put essentially every device's miss probability below 1e-12 (else the largest).

Trials run through :class:`~mtj_hil.protocols.switching.trials.Trials`, one sequence per
batch, so the backend checks every pulse against the safety envelope before upload as for
the grid. Repeated visits of a point are summed into one row.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtj_hil.protocols.chip import CellState, Pulse
from mtj_hil.protocols.resolution import settable_volts, settable_width
from mtj_hil.protocols.switching.fit import STATUS_OK, fit_devices, write_error_rate
from mtj_hil.protocols.switching.placement import PulseRange, allowed, allowed_range, choose_point
from mtj_hil.protocols.switching.trials import Trials

Row = tuple[int, float, float, np.ndarray, np.ndarray, bool]
GUIDE_FLOOR = 1e-4
"""Write-error floor the guiding fits assume (the analysis fits the measured one)."""
SATURATED_MISS = 1e-12
"""Miss probability below which a point counts as saturated for the floor trials."""


class _Counts:
    """Trials and switches per visited point of one direction, in visiting order."""

    def __init__(self) -> None:
        self.points: dict[tuple[float, float], tuple[np.ndarray, np.ndarray]] = {}
        self.spent = 0

    def add(self, width: float, amp: float, trials: np.ndarray, switched: np.ndarray) -> None:
        key = (float(width), float(amp))
        if key in self.points:
            t, s = self.points[key]
            trials, switched = t + trials, s + switched
        self.points[key] = (trials, switched)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        keys = list(self.points)
        n = np.stack([self.points[k][0].ravel() for k in keys]).astype(float)
        k = np.stack([self.points[k][1].ravel() for k in keys]).astype(float)
        return np.array([k_[1] for k_ in keys]), np.array([k_[0] for k_ in keys]), n, k


def placed_rows(runner: Trials, plan: Any, direction: CellState) -> list[Row]:
    """Trials of one direction placed by information (see the module docstring); rows as
    :func:`~mtj_hil.protocols.switching.procedure.measure_array` keeps them."""
    layout = runner.chip.layout
    rng = allowed_range(layout, plan.amplitudes, plan.widths)
    counts = _Counts()

    def run(width: float, amp: float, n: int) -> tuple[np.ndarray, np.ndarray]:
        a, w = allowed(rng, np.array([amp]), np.array([width]))
        # as the bench sets it: the pulse recorded is the pulse applied
        pulse = Pulse(settable_volts(a[0], layout.limits), settable_width(w[0], layout.limits))
        trials, switched = runner.run(direction, pulse, n)
        counts.add(pulse.width, pulse.amplitude, trials, switched)
        counts.spent += n
        return trials, switched

    _locate(run, rng, plan, runner.shape)
    grid = tuple(a for a in sorted(plan.amplitudes) if rng.amp_lo <= a <= rng.amp_hi)
    fit = None
    while True:
        amp, wid, n, k = counts.arrays()
        fit = fit_devices(amp, wid, n, k, tau0=plan.tau0, floor=GUIDE_FLOOR)
        if counts.spent + plan.placement_batch > plan.placement_budget:
            break
        choice = choose_point(
            fit.theta,
            fit.cov,
            fit.status == STATUS_OK,
            rng,
            tau0=plan.tau0,
            target_vc=plan.target_vc,
            target_delta=plan.target_delta,
            done_fraction=plan.done_fraction,
            batch=plan.placement_batch,
            grid=grid,
            floor=GUIDE_FLOOR,
        )
        if choice.stop:
            break
        run(choice.width, choice.amplitude, plan.placement_batch)
    rows: list[Row] = [
        (int(direction), w, a, t, s, False) for (w, a), (t, s) in counts.points.items()
    ]
    if plan.floor_trials:
        for width in rng.widths:
            amp = _saturating(fit, rng, grid, width, plan.tau0)
            t, s = runner.run(direction, Pulse(amp, width), plan.floor_trials)
            rows.append((int(direction), width, amp, t, s, True))
    return rows


def _locate(run: Any, rng: PulseRange, plan: Any, shape: tuple[int, int]) -> None:
    """Coarse ascending sweep at the middle width until the devices saturate."""
    width = sorted(rng.widths)[len(rng.widths) // 2]
    amps = [a for a in sorted(plan.amplitudes) if rng.amp_lo <= a <= rng.amp_hi][::2]
    ever = np.zeros(shape, bool)
    saturated_run = 0
    for amp in amps:
        trials, switched = run(width, amp, plan.probe_trials)
        ever |= switched > 0
        valid = trials > 0
        if ever.sum() >= 0.5 * max(valid.sum(), 1):
            always = (switched == trials) & valid
            saturated_run = saturated_run + 1 if always[ever].mean() >= 0.995 else 0
            if saturated_run >= 2:
                return


def _saturating(
    fit: Any, rng: PulseRange, grid: tuple[float, ...], width: float, tau0: float
) -> float:
    """The smallest grid amplitude (V) at ``width`` where 99.9 % of the fitted devices miss
    with probability below :data:`SATURATED_MISS`; the largest allowed if none."""
    ok = fit.status == STATUS_OK
    if not ok.any():
        return rng.amp_hi
    vc, delta = fit.vc[ok], fit.delta[ok]
    for amp in grid:
        miss = write_error_rate(amp, width, vc, delta, tau0)
        if np.quantile(miss, 0.999) < SATURATED_MISS:
            return float(amp)
    return rng.amp_hi
