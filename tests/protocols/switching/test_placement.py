"""Information-driven trial placement: it picks pulses that inform, moves to other widths
when one width cannot separate Delta from Vc0, stops at the stated precision, never proposes
a pulse outside the plan's range, and on a simulated die recovers the truth as precisely as
the bench asks."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.switching.analysis import analyse
from mtj_hil.protocols.switching.fit import switch_probability
from mtj_hil.protocols.switching.placement import (
    PulseRange,
    allowed,
    allowed_range,
    candidates,
    choose_point,
    half_widths,
    placement_widths,
    trial_information,
)
from mtj_hil.protocols.switching.procedure import (
    MemorySwitchingSink,
    SwitchingPlan,
    check_plan,
    default_amplitudes,
    measure_switching_die,
)
from mtj_hil.sim import SimulatedChip

TAU0 = 1e-9
GRID = tuple(np.round(np.arange(0.4, 1.2001, 0.025), 6))
RNG = PulseRange(0.4, 1.2, (1e-8, 1e-7, 1e-6))


def _theta(vc: np.ndarray, delta: np.ndarray) -> np.ndarray:
    return np.stack([-delta, delta / vc], axis=1)


def _cov_after(theta: np.ndarray, amps, widths, trials: int, prior_sd=(21.0, 30.0)) -> np.ndarray:
    """Posterior covariance after ``trials`` trials at each (amp, width) point and a weak
    prior."""
    info = trial_information(np.asarray(amps), np.asarray(widths), theta, TAU0).sum(axis=0)
    info = trials * info + np.diag(1.0 / np.square(prior_sd))[None]
    return np.linalg.inv(info)


def _choose(theta, cov, **kw):
    args = dict(tau0=TAU0, target_vc=0.012, target_delta=0.1, done_fraction=0.8, batch=8, grid=GRID)
    args.update(kw)
    rng = args.pop("rng", RNG)
    return choose_point(theta, cov, np.ones(len(theta), bool), rng, **args)


def test_one_trial_informs_most_where_switching_is_neither_rare_nor_certain():
    theta = _theta(np.array([0.75]), np.array([40.0]))
    amps = np.linspace(0.4, 1.0, 601)
    w = trial_information(amps, np.full(amps.shape, 1e-7), theta, TAU0)[:, 0, 0, 0]
    p = switch_probability(amps, 1e-7, 0.75, 40.0, TAU0)
    assert 0.75 < p[np.argmax(w)] < 0.85  # the cloglog optimum, P = 0.80
    assert w[p < 1e-4].max() < 1e-3 * w.max() and w[p > 1 - 1e-6].max() < 1e-3 * w.max()


def test_the_chosen_pulse_switches_the_devices_neither_rarely_nor_surely():
    # alike devices, roughly located by 4 trials at three amplitudes
    theta = _theta(np.full(50, 0.75), np.full(50, 40.0))
    cov = _cov_after(theta, [0.6, 0.7, 0.8], [1e-7] * 3, 4)
    choice = _choose(theta, cov)
    assert not choice.stop and choice.width in RNG.widths
    assert 0.1 < switch_probability(choice.amplitude, choice.width, 0.75, 40.0, TAU0) < 0.99
    # spread devices: the pulse lands in the transition of a good share of them (those
    # the first trials told least about), not where all or none switch
    rng = np.random.default_rng(1)
    vc = 0.75 * (1 + 0.06 * rng.standard_normal(200))
    theta = _theta(vc, np.full(200, 40.0))
    choice = _choose(theta, _cov_after(theta, [0.6, 0.7, 0.8], [1e-7] * 3, 4))
    p = switch_probability(choice.amplitude, choice.width, vc, 40.0, TAU0)
    assert np.mean((p > 0.05) & (p < 0.99)) > 0.15


def test_after_one_width_the_placement_moves_to_another_width_for_delta():
    theta = _theta(np.full(50, 0.75), np.full(50, 40.0))
    v = 0.75 * (1 - np.log(1e-7 / TAU0) / 40.0)  # the transition at 100 ns
    amps = np.linspace(v - 0.06, v + 0.06, 9)
    cov = _cov_after(theta, amps, [1e-7] * 9, 16)
    h_vc, h_d = half_widths(theta, cov)
    assert np.all(h_d > 0.1)  # one width leaves Delta poorly known
    choice = _choose(theta, cov)
    assert not choice.stop and choice.width != 1e-7


def test_stops_once_the_stated_precision_is_reached_by_enough_devices():
    theta = _theta(np.full(100, 0.75), np.full(100, 40.0))
    tight = np.tile(np.diag([0.01, 0.01]), (100, 1, 1))  # ~0.4 % Delta, ~0.3 % Vc0
    loose = np.tile(np.diag([100.0, 200.0]), (100, 1, 1))
    assert _choose(theta, tight).stop and _choose(theta, tight).reason == "precision reached"
    mixed = np.where((np.arange(100) < 85)[:, None, None], tight, loose)
    assert _choose(theta, mixed, done_fraction=0.8).stop
    more = _choose(theta, mixed, done_fraction=0.9)
    assert not more.stop and more.done == pytest.approx(0.85)
    assert not _choose(theta, loose).stop


def test_never_proposes_an_amplitude_outside_the_plan_or_the_limits():
    # devices whose most informative pulse lies far above the allowed range
    theta = _theta(np.full(20, 1.9), np.full(20, 40.0))
    cov = np.tile(np.diag([50.0, 50.0]), (20, 1, 1))
    narrow = PulseRange(0.4, 0.9, (1e-8, 1e-6))
    a, w = candidates(narrow, theta, TAU0, GRID)
    assert a.min() >= 0.4 and a.max() <= 0.9 and set(w) <= {1e-8, 1e-6}
    choice = _choose(theta, cov, rng=narrow)
    assert choice.stop or (0.4 <= choice.amplitude <= 0.9 and choice.width in narrow.widths)
    # the guard itself: clipped into the range, widths outside the plan dropped
    a, w = allowed(narrow, np.array([0.1, 0.5, 1.7, 0.6]), np.array([1e-8, 1e-8, 1e-6, 1e-5]))
    assert list(a) == [0.4, 0.5, 0.9] and list(w) == [1e-8, 1e-8, 1e-6]


def test_allowed_range_is_the_plan_inside_the_die_limits():
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 7)
    layout = chip.layout
    rng = allowed_range(layout, (0.05, 0.5, 0.8), (1e-9, 1e-7, 1e-3))
    assert rng.amp_lo == layout.limits.min_pulse_amplitude and rng.amp_hi == 0.8
    assert rng.widths == (1e-7,)
    with pytest.raises(InvalidRequest):
        allowed_range(layout, (0.5,), (1e-3,))
    ws = placement_widths(layout)
    assert ws[-1] == layout.limits.max_pulse_width and len(ws) >= 3


class _Recording:
    """A chip that records every pulse it is asked to apply."""

    def __init__(self, chip: SimulatedChip) -> None:
        self._chip = chip
        self.pulses: list[tuple[float, float]] = []

    def __getattr__(self, name):
        return getattr(self._chip, name)

    def program(self, array, mask, state, pulse):
        self.pulses.append((pulse.amplitude, pulse.width))
        return self._chip.program(array, mask, state, pulse)


def _plan(layout, **kw) -> SwitchingPlan:
    base = dict(
        arrays=(0,),
        amplitudes=default_amplitudes(layout),
        widths=placement_widths(layout),
        disturb_reads=0,
        placement="information",
    )
    base.update(kw)
    return SwitchingPlan(**base)


def test_placed_trials_stay_inside_a_narrow_plan_on_a_die():
    chip = _Recording(SimulatedChip.from_lot("1t1r-20k", 0, 7))
    layout = chip.layout
    nominal = layout.nominal_pulse
    plan = _plan(
        layout,
        amplitudes=tuple(a for a in default_amplitudes(layout) if a <= 0.7),
        widths=(1e-8, 1e-7),  # not the nominal width of the start-state writes
        floor_trials=4,
        placement_budget=160,
    )
    data = measure_switching_die(chip, MemorySwitchingSink(), plan)[0]
    trial = [(a, w) for a, w in chip.pulses if w != nominal.width]
    amps = np.array([a for a, _ in trial])
    assert amps.size and amps.max() <= 0.7 + 1e-12 and amps.min() >= min(plan.amplitudes)
    assert {w for _, w in trial} == {1e-8, 1e-7}
    assert data.amplitude.max() <= 0.7 + 1e-12
    # the budget holds: at most 160 placed trials + 2 x 4 floor trials per direction
    for d in (0, 1):
        sel = data.direction == d
        assert data.trials[sel].max(axis=(1, 2)).sum() <= 160 + 2 * 4


def test_bad_placement_options_are_refused():
    layout = SimulatedChip.from_lot("1t1r-20k", 0, 7).layout
    for bad in (
        {"placement": "bayes"},
        {"target_vc": 0.0},
        {"target_delta": 1.5},
        {"done_fraction": 0.0},
        {"placement_batch": 0},
        {"placement_batch": 50, "placement_budget": 40},
    ):
        with pytest.raises(InvalidRequest):
            check_plan(layout, _plan(layout, **bad))
    assert SwitchingPlan(arrays=(0,), amplitudes=(0.5,), widths=(1e-6,)).placement == "grid"


@pytest.mark.slow
def test_placed_switching_recovers_the_truth_as_precisely_as_the_bench_asks():
    sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "scripts"))
    from bench_lab_switching import precision  # noqa: PLC0415

    chip = SimulatedChip.from_lot("1t1r-20k", 0, 3)
    layout = chip.layout
    plan = _plan(layout)
    data = measure_switching_die(chip, MemorySwitchingSink(), plan)
    an = analyse(
        data,
        [0],
        layout.limits,
        tau0=plan.tau0,
        target_wer=plan.target_wer,
        disturb_reads=0,
        disturb_voltage=0.3,
    )
    p = precision(an, chip.die, [0])
    assert p["devices"] > 1200
    assert p["vc_err"] <= 0.006 and p["delta_err"] <= 0.04
    assert 0.85 <= p["coverage"] <= 0.95
    # and it stopped on precision, well inside its budget, with fewer trials than the grid
    placed = data[0].trials[~data[0].floor_point].max(axis=(1, 2)).sum()
    assert placed < 2 * plan.placement_budget
