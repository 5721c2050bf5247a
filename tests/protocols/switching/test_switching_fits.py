"""Switching fits recover the die's true per-device parameters; bad input is refused or
flagged, never silently turned into a number without an uncertainty."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols.chip import CellState
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.switching.analysis import analyse
from mtj_hil.protocols.switching.fit import (
    STATUS_FEW_TRIALS,
    STATUS_NEVER_SWITCHED,
    STATUS_OK,
    fit_devices,
    interval_coverage,
    switch_probability,
)
from mtj_hil.protocols.switching.procedure import (
    MemorySwitchingSink,
    SwitchingPlan,
    default_amplitudes,
    default_widths,
    measure_switching_die,
)
from mtj_hil.sim import SimulatedChip, load_profile


def _measure(profile, die: int, arrays=(0,), **kw):
    chip = SimulatedChip.from_lot(profile, 0, die)
    layout = chip.layout
    plan = SwitchingPlan(
        arrays=arrays,
        amplitudes=default_amplitudes(layout),
        widths=default_widths(layout),
        disturb_reads=kw.pop("disturb_reads", 0),
        **kw,
    )
    data = measure_switching_die(chip, MemorySwitchingSink(), plan)
    an = analyse(
        data,
        list(arrays),
        layout.limits,
        tau0=plan.tau0,
        target_wer=plan.target_wer,
        disturb_reads=plan.disturb_reads,
        disturb_voltage=0.3,
    )
    return chip, data, an


@pytest.fixture(scope="module")
def measured():
    return _measure(load_profile("1t1r-20k"), 4, arrays=(0, 5))


@pytest.mark.slow
def test_fits_recover_the_true_critical_voltages_and_delta(measured):
    chip, _, an = measured
    die = chip.die
    for name, vc_true in (("AP", die.vc_to_ap[[0, 5]]), ("P", die.vc_to_p[[0, 5]])):
        fit = an.directions[name]
        ok = fit.status == STATUS_OK
        assert ok.sum() > 1150
        rel = np.abs(fit.vc[ok] / vc_true[ok] - 1)
        assert np.median(rel) < 0.015
        assert abs(np.median(fit.delta[ok]) / 40.0 - 1) < 0.05
        # stated 90 % intervals hold the truth about 90 % of the time
        assert 0.8 < interval_coverage(fit.vc, fit.vc_sd, vc_true) < 0.97
        assert 0.8 < interval_coverage(fit.delta, fit.delta_sd, np.full(vc_true.shape, 40.0)) < 0.97
        # and the die-wide floor (1e-3) is found from its set-aside trials
        assert fit.floor.low < 1e-3 < fit.floor.high


@pytest.mark.slow
def test_devices_that_never_switch_are_reported_and_not_fitted(measured):
    chip, _, an = measured
    truth = chip.die.defect[[0, 5]]
    fit = an.directions["AP"]
    stuck = truth == DefectCode.STUCK_P  # a stuck-P device never switches towards AP
    assert stuck.any()
    assert (fit.status[stuck] == STATUS_NEVER_SWITCHED).all()
    assert np.isnan(fit.vc[stuck]).all() and np.isnan(fit.vc_sd[stuck]).all()
    assert fit.never_switched >= stuck.sum()


@pytest.mark.slow
def test_floor_limited_die_gets_a_clear_no_recommendation(measured):
    rec = measured[2].recommendation
    assert not rec.found
    assert "no pulse inside the safety envelope" in rec.statement
    assert "floor" in rec.statement


@pytest.mark.slow
def test_without_a_floor_the_recommended_pulse_reaches_the_target_on_the_truth():
    prof = load_profile("1t1r-20k").replace(switching={"write_error_floor": 0.0})
    chip, _, an = _measure(prof, 6, floor_trials=32, target_wer=1e-4)
    rec = an.recommendation
    assert rec.found, rec.statement
    die = chip.die
    good = die.defect[0] == DefectCode.GOOD
    worst = 0.0
    for vc in (die.vc_to_ap[0][good], die.vc_to_p[0][good]):
        p = switch_probability(rec.amplitude, rec.width, vc, 40.0, 1e-9)
        worst = max(worst, float(np.mean(1 - p)))
    assert worst < 1e-4
    # 1e-6 cannot be claimed from ~60,000 failure-free floor trials: said so, not faked
    from mtj_hil.protocols.switching.analysis import recommend

    strict = recommend(
        an.wer, chip.layout.limits, 1e-6, {k: v.floor for k, v in an.directions.items()}
    )
    assert not strict.found and "only bounded" in strict.statement


def test_too_few_trials_give_a_wide_stated_uncertainty():
    rng = np.random.default_rng(1)
    amps = np.repeat(np.linspace(0.55, 0.8, 6), 2)
    widths = np.tile([1e-8, 1e-6], 6)
    vc = np.full(400, 0.75)

    def counts(n_trials):
        p = switch_probability(amps[:, None], widths[:, None], vc[None], 40.0, 1e-9)
        n = np.full(p.shape, n_trials)
        return n, rng.binomial(n, p)

    n_many, k_many = counts(64)
    n_few, k_few = counts(1)
    many = fit_devices(amps, widths, n_many, k_many)
    few = fit_devices(amps, widths, n_few, k_few)
    assert (many.status == STATUS_OK).all()
    assert (few.status[few.n_trials > 0] == STATUS_FEW_TRIALS).all()
    fitted = np.isfinite(few.vc)
    assert np.isfinite(few.vc_sd[fitted]).all()  # never a number without its uncertainty
    assert np.median(few.vc_sd[fitted]) > 3 * np.median(many.vc_sd)
    assert np.median(few.delta_sd[fitted]) > 3 * np.median(many.delta_sd)


def test_grid_beyond_the_envelope_is_refused_before_the_first_pulse():
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 0)
    plan = SwitchingPlan(arrays=(0,), amplitudes=(0.6, 1.3), widths=(1e-6,))
    with pytest.raises(InvalidRequest, match="amplitude 1.3 V lies outside the safety envelope"):
        measure_switching_die(chip, MemorySwitchingSink(), plan)
    plan = SwitchingPlan(arrays=(0,), amplitudes=(0.6,), widths=(1e-9,))
    with pytest.raises(InvalidRequest, match="width 1e-09 s"):
        measure_switching_die(chip, MemorySwitchingSink(), plan)
    above = chip.layout.limits.max_read_voltage * 1.5
    plan = SwitchingPlan(arrays=(0,), amplitudes=(0.6,), widths=(1e-6,), disturb_voltage=above)
    with pytest.raises(InvalidRequest, match="read-disturb voltage"):
        measure_switching_die(chip, MemorySwitchingSink(), plan)
    assert chip.program_calls == 0 and chip.read_calls == 0


def test_rv_loops_show_hysteresis():
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 0)
    good = np.argwhere(chip.die.defect[2] == DefectCode.GOOD)[:3]
    plan = SwitchingPlan(
        arrays=(2,),
        amplitudes=(0.7,),
        widths=(1e-6,),
        trials=1,
        adaptive=False,
        floor_trials=0,
        disturb_reads=0,
        loop_devices=tuple((2, int(r), int(c)) for r, c in good),
    )
    d = measure_switching_die(chip, MemorySwitchingSink(), plan)[2]
    assert d.loop_g.shape == (3, d.loop_voltage.size)
    g_p = 1 / chip.die.r_p[2][good[:, 0], good[:, 1]]
    up = d.loop_voltage > 0
    # ends of the AP ramp read AP (low G); ends of the P ramp read P again
    assert (d.loop_g[:, np.flatnonzero(up)[-1]] < 0.8 * g_p).all()
    assert (d.loop_g[:, -1] > 0.9 * g_p).all()
    assert CellState.P == 1


def test_a_device_whose_switching_falls_with_amplitude_is_not_ok():
    """A fitted curve that does not rise with amplitude has no Vc0: its status says so
    ("no rise"), so no OK device carries a NaN Vc0 into a median."""
    from mtj_hil.protocols.switching.fit import STATUS_NAMES, STATUS_NO_RISE, STATUS_OK, fit_devices

    amplitude = np.repeat([0.6, 0.7, 0.8, 0.9, 1.0], 1)
    width = np.full(5, 1e-6)
    n = np.full((5, 40), 32)
    rising = np.array([0, 2, 16, 30, 32])
    falling = rising[::-1]
    k = np.tile(rising[:, None], (1, 40))
    k[:, 0] = falling  # device 0 switches less the harder it is pushed
    fit = fit_devices(amplitude, width, n, k, prior_mean=(-40.0, 50.0), prior_sd=(1e3, 1e3))
    assert fit.status[0] == STATUS_NO_RISE and STATUS_NAMES[STATUS_NO_RISE] == "no rise"
    assert (fit.status[1:] == STATUS_OK).all() and np.isfinite(fit.vc[1:]).all()
    ok = fit.status == STATUS_OK
    assert np.isfinite(fit.vc[ok]).all()


@pytest.mark.slow
def test_a_low_contrast_die_is_judged_device_by_device():
    """TMR 10 % with the usual spread: P and AP levels of different devices overlap, so the
    die's one threshold misread devices whose levels sit on its wrong side. The fits were
    confidently wrong (floor 0.005 against a true 0.001, Vc z-scores spread 5.5, 167 good
    devices unfitted). Where the host judges each cell, each device gets the midpoint of its
    own two levels."""
    base = load_profile("1t1r-20k")
    prof = base.replace(resistance={"r_ap_median": base.resistance.r_p_median * 1.1})
    chip, _, an = _measure(prof, 0)
    die = chip.die
    good = die.defect[[0]] == DefectCode.GOOD
    for name, vc_true in (("AP", die.vc_to_ap[[0]]), ("P", die.vc_to_p[[0]])):
        fit = an.directions[name]
        ok = (fit.status == STATUS_OK) & good
        assert ok.sum() >= 0.97 * good.sum()  # was 70 %
        z = (fit.vc[ok] - vc_true[ok]) / fit.vc_sd[ok]
        assert np.std(z) < 2.0  # stated uncertainties about honest (was 6 to 7)
        # the floor within a factor 2 of the profile's 1e-3 (was 6 to 9 times it; what is
        # left over is the pulse's own failures at the top amplitude on this die)
        assert fit.floor.high > 1e-3 and fit.floor.low < 2e-3
