"""Device physics of the simulated die: distributions, seeding, switching, breakdown."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.protocols.chip import CellState, Pulse
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.sim import SimulatedChip, make_die


def test_same_seed_gives_the_same_die(profile_1t1r):
    a, b = make_die(profile_1t1r, 3, 5), make_die(profile_1t1r, 3, 5)
    for name in ("r_p", "r_ap", "vc_to_p", "v_breakdown", "defect", "state"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    other = make_die(profile_1t1r, 3, 6)
    assert not np.array_equal(a.r_p, other.r_p)
    assert not np.array_equal(a.r_p, make_die(profile_1t1r, 4, 5).r_p)


def test_resistances_follow_the_configured_lognormals(profile_1t1r):
    die = make_die(profile_1t1r, 0, 0)
    res = profile_1t1r.resistance
    ln_p, ln_ap = np.log(die.r_p).ravel(), np.log(die.r_ap).ravel()
    # 20,000 samples: the median is good to ~0.05 % and sigma to ~0.5 %.
    assert np.exp(np.median(ln_p)) == pytest.approx(res.r_p_median, rel=0.003)
    assert np.exp(np.median(ln_ap)) == pytest.approx(res.r_ap_median, rel=0.003)
    assert np.std(ln_p) == pytest.approx(res.r_p_sigma, rel=0.03)
    assert np.std(ln_ap) == pytest.approx(res.r_ap_sigma, rel=0.03)
    assert np.corrcoef(ln_p, ln_ap)[0, 1] == pytest.approx(res.rp_rap_correlation, abs=0.02)
    tmr = np.median(die.r_ap / die.r_p) - 1
    assert tmr == pytest.approx(res.r_ap_median / res.r_p_median - 1, abs=0.01)


def test_critical_voltages_have_the_configured_spread(profile_1t1r):
    die = make_die(profile_1t1r, 0, 1)
    sw = profile_1t1r.switching
    assert np.median(die.vc_to_p) == pytest.approx(sw.vc_to_p, rel=0.005)
    assert np.std(die.vc_to_p) / sw.vc_to_p == pytest.approx(sw.vc_sigma, rel=0.05)
    assert die.v_breakdown.min() >= sw.breakdown_floor


def test_defect_counts_match_rates_over_a_lot(profile_1t1r):
    n_dies = 40
    counts = np.zeros((n_dies, len(DefectCode)))
    for k in range(n_dies):
        counts[k] = np.bincount(
            make_die(profile_1t1r, 11, k).defect.ravel(), minlength=len(DefectCode)
        )
    n = profile_1t1r.layout.n_devices
    d = profile_1t1r.defects
    rates = counts.mean(axis=0) / n
    # Mean over 40 dies with a gamma die-to-die factor of CV 0.5: ~8 % relative error.
    for code, rate in (
        (DefectCode.SHORT, d.short_rate),
        (DefectCode.OPEN, d.open_rate),
        (DefectCode.STUCK_P, d.stuck_p_rate),
        (DefectCode.STUCK_AP, d.stuck_ap_rate),
    ):
        assert rates[code] == pytest.approx(rate, rel=0.3), code.name
    # Die-to-die spread: the total count varies much more than Poisson alone would.
    totals = counts[:, 1:].sum(axis=1)
    assert totals.std() > 2 * np.sqrt(totals.mean())


def test_stuck_devices_start_in_their_state_and_never_switch(profile_1t1r):
    die = make_die(profile_1t1r, 0, 2)
    stuck_p = die.defect == DefectCode.STUCK_P
    assert die.state[stuck_p].all()
    all_cells = np.ones(die.shape[1:], bool)
    for array in range(4):
        die.apply_pulse(array, all_cells, CellState.AP, 1.1, 1e-5)
    assert die.state[stuck_p].all()
    stuck_ap = die.defect == DefectCode.STUCK_AP
    for array in range(4):
        die.apply_pulse(array, all_cells, CellState.P, 1.1, 1e-5)
    assert not die.state[stuck_ap].any()


def test_write_error_rate_at_nominal_pulse_is_the_configured_floor(profile_1t1r):
    die = make_die(profile_1t1r, 0, 3)
    pulse = profile_1t1r.nominal_pulse
    cells = np.ones(die.shape[1:], bool)
    good = die.defect[0] == DefectCode.GOOD
    failures = trials = 0
    for k in range(400):
        target = CellState.P if k % 2 == 0 else CellState.AP
        before = die.state[0].copy()
        die.apply_pulse(0, cells, target, pulse.amplitude, pulse.width)
        tried = good & (before != (target == CellState.P))
        failures += int((die.state[0][tried] != (target == CellState.P)).sum())
        trials += int(tried.sum())
    wer = failures / trials
    expected = profile_1t1r.switching.write_error_floor
    # ~120,000 switching attempts: the floor of 1e-3 is measured to about +/- 10 %.
    assert expected * 0.7 < wer < expected * 1.5


def test_subthreshold_pulse_switches_nothing(profile_1t1r):
    die = make_die(profile_1t1r, 0, 4)
    before = die.state.copy()
    cells = np.ones(die.shape[1:], bool)
    for array in range(die.shape[0]):
        die.apply_pulse(array, cells, CellState.P, 0.3, 1e-5)
        die.apply_pulse(array, cells, CellState.AP, 0.3, 1e-5)
    np.testing.assert_array_equal(die.state, before)


def test_breakdown_above_the_limit_and_never_below(profile_1t1r):
    die = make_die(profile_1t1r, 0, 5)
    floor = profile_1t1r.switching.breakdown_floor
    cells = np.ones(die.shape[1:], bool)
    shorts_before = die.defect == DefectCode.SHORT
    die.apply_pulse(0, cells, CellState.P, floor - 1e-6, 1e-6)
    np.testing.assert_array_equal(die.defect == DefectCode.SHORT, shorts_before)
    die.apply_pulse(1, cells, CellState.P, float(die.v_breakdown[1].max()) + 0.01, 1e-6)
    assert (die.defect[1] == DefectCode.SHORT).all()
    # Broken devices conduct like shorts in both states.
    np.testing.assert_allclose(die.conductance(1), die.short_g[1])


def test_safety_envelope_keeps_the_simulated_die_intact(profile_1t1r):
    chip = SimulatedChip.from_lot(profile_1t1r, 0, 5)
    before = chip.die.defect.copy()
    state_before = chip.die.state.copy()
    cells = np.ones((25, 25), bool)
    too_high = Pulse(profile_1t1r.switching.breakdown_floor + 0.1, 1e-6)
    with pytest.raises(SafetyViolation, match="amplitude"):
        chip.program(0, cells, CellState.P, too_high)
    with pytest.raises(SafetyViolation, match="width"):
        chip.program(0, cells, CellState.P, Pulse(1.0, 1.0))
    with pytest.raises(SafetyViolation, match="read voltage"):
        chip.read(0, np.full((1, 25), 1.0))
    np.testing.assert_array_equal(chip.die.defect, before)
    np.testing.assert_array_equal(chip.die.state, state_before)
    # The largest pulse the envelope allows, many times over, breaks nothing.
    top = Pulse(profile_1t1r.limits.max_pulse_amplitude, profile_1t1r.limits.max_pulse_width)
    for _ in range(20):
        chip.program(0, cells, CellState.AP, top)
    np.testing.assert_array_equal(chip.die.defect, before)


def test_read_is_ohms_law_with_the_configured_noise(profile_1t1r):
    profile_1t1r = profile_1t1r.replace(bias=None)  # Ohm's law holds on an ohmic die
    chip = SimulatedChip.from_lot(profile_1t1r, 0, 6)
    rng = np.random.default_rng(1)
    v = rng.uniform(0.0, 0.1, size=(20_000, 25))
    currents = chip.read(3, v)
    ideal = v @ chip.die.conductance(3)
    rel = currents / ideal - 1
    assert np.mean(rel) == pytest.approx(0, abs=2e-4)
    expected_sigma = profile_1t1r.read.noise_rel
    assert np.std(rel) == pytest.approx(expected_sigma, rel=0.1)
    # Repeated reads of one vector differ (noise is per read), and average to the truth.
    one = np.tile(v[:1], (5_000, 1))
    reads = chip.read(3, one)
    assert reads.std(axis=0).min() > 0
    np.testing.assert_allclose(reads.mean(axis=0), ideal[0], rtol=5 * expected_sigma / 70)


def test_adc_quantises_and_clips(profile_1t1r):
    prof = profile_1t1r.replace(read={"adc_bits": 12, "noise_rel": 0.0, "noise_abs": 0.0})
    chip = SimulatedChip(make_die(prof, 0, 0))
    one_row = np.zeros((1, 25))
    one_row[0, 0] = 0.3
    currents = chip.read(0, one_row)
    fs = prof.read.adc_full_scale
    lsb = 2 * fs / 4096
    assert np.isfinite(currents).all() and currents.max() <= fs
    np.testing.assert_allclose(currents / lsb, np.round(currents / lsb), atol=1e-9)
    # 0.3 V on all 25 rows drives every column past full scale: overflow, not a clipped value.
    assert np.isposinf(chip.read(0, np.full((1, 25), 0.3))).all()


def test_half_select_disturbs_only_passive_arrays(profile_passive):
    prof = profile_passive.replace(switching={"write_error_floor": 0.0})
    die = make_die(prof, 0, 0)
    cells = np.zeros((15, 15), bool)
    cells[0, :] = True
    die.state[:] = False
    # Full-V pulses near the top of the range: V/2 on the column-sharing cells is close
    # enough to the critical voltage to flip some of them over many pulses.
    for _ in range(200):
        die.apply_pulse(0, cells, CellState.P, 1.2, 1e-5)
    good = die.defect[0] == DefectCode.GOOD
    assert die.state[0][0][good[0]].all()
    disturbed = die.state[0][1:][good[1:]].mean()
    assert disturbed > 0
    quiet = make_die(prof.replace(switching={"half_select": False}), 0, 0)
    quiet.state[:] = False
    for _ in range(200):
        quiet.apply_pulse(0, cells, CellState.P, 1.2, 1e-5)
    assert not quiet.state[0][1:].any()
