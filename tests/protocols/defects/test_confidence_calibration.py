"""The detector's stated confidence on hard dies (issue 22): write failures that cluster on
some devices (beta-binomial), and spreads no smaller than a coarse converter allows."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
from mtj_hil.protocols.defects import reads
from mtj_hil.protocols.defects.classes import (
    GOOD,
    OPEN,
    SHORT,
    STUCK_AP,
    STUCK_P,
    Evidence1D,
    fit_populations,
    normalise,
)
from mtj_hil.protocols.defects.contrast import good_loglik, lognorm, write_failure_rate
from mtj_hil.protocols.defects.evidence import Evidence
from mtj_hil.protocols.defects.failures import WriteFailures, fit_failure_spread
from mtj_hil.protocols.defects.quantisation import level_floors, quantisation_sigma
from mtj_hil.sim import SimulatedChip, load_profile

LOT = 5152  # a lot no other test uses
R_P = 4292.0


def _cycles(p_fail: np.ndarray, cycles: int, rng, m_d: float = 0.56, sd: float = 0.02):
    failed = rng.random((cycles, p_fail.size)) < p_fail
    return np.where(failed, 0.0, m_d) + sd * rng.standard_normal((cycles, p_fail.size))


def test_failures_clustered_on_some_devices_are_fitted_as_such():
    rng = np.random.default_rng(7)
    n, sd, m_d = 40000, 0.02, 0.56
    ok = np.ones(n, bool)
    # 1 % of devices fail 60 % of their writes, the rest never: mean rate 0.6 %
    p = np.where(rng.random(n) < 0.01, 0.6, 0.0)
    wf = fit_failure_spread(_cycles(p, 3, rng), ok, sd, m_d, sd, 0.006)
    assert wf.rho > 0.2
    # "all 3 cycles failed" is far likelier than one rate for all devices says
    assert wf.log_all_failed(3) > 3 * np.log(0.006) + 4
    # independent failures at the same mean rate: one rate for all devices
    indep = fit_failure_spread(_cycles(np.full(n, 0.006), 3, rng), ok, sd, m_d, sd, 0.006)
    assert indep.rho == 0.0
    assert indep.log_all_failed(3) == pytest.approx(3 * np.log(0.006))


def test_devices_that_fit_neither_state_do_not_make_failures_look_clustered():
    # Resistive opens read at a tiny current: their per-cycle log ratios scatter by tenths,
    # one cycle passes as "switched" and the rest as "failed", device after device. Counted,
    # they gave a correlation of 0.6-0.9 on the bench's resistive-opens, sense-offset and
    # lab-wafer dies, and every stuck device there became UNCERTAIN.
    rng = np.random.default_rng(11)
    n, sd, m_d, s_d = 20000, 0.0071, 0.55, 0.02
    failed = rng.random((3, n)) < 2e-5
    d = np.where(failed, 0.0, m_d + s_d * rng.standard_normal(n))
    d = d + sd * rng.standard_normal((3, n))
    odd = rng.random(n) < 0.001
    d[:, odd] = 0.1 * rng.standard_normal((3, int(odd.sum())))
    ok = np.ones(n, bool)
    clean = d.min(axis=0) > 6 * sd
    e = write_failure_rate(d, ok, clean, sd, m_d, np.hypot(s_d, sd), 2e-5, 6.0)[0]
    wf = fit_failure_spread(d, ok, sd, m_d, s_d, e)
    assert wf == WriteFailures(e)


def test_two_devices_that_failed_twice_are_not_a_population_that_always_fails():
    # A correlation says some good devices fail every write, so every stuck device may be
    # one of them: two devices' worth of repeated failures (0.34 fitted) is too little.
    rng = np.random.default_rng(5)
    n, sd, m_d = 20000, 0.0071, 0.55
    failed = rng.random((3, n)) < 1e-4
    failed[:2, :2], failed[2, :2] = True, False
    d = np.where(failed, 0.0, m_d + 0.02 * rng.standard_normal(n))
    d = d + sd * rng.standard_normal((3, n))
    ok = np.ones(n, bool)
    clean = d.min(axis=0) > 6 * sd
    e = write_failure_rate(d, ok, clean, sd, m_d, 0.033, 1e-4, 6.0)[0]
    assert fit_failure_spread(d, ok, sd, m_d, 0.02, e) == WriteFailures(e)


def test_one_rate_for_all_devices_is_exactly_the_independent_model():
    # correlation off: the likelihoods are bit for bit those of one rate ``e`` (main's model)
    rng = np.random.default_rng(3)
    e = 3e-4
    d = np.where(rng.random((3, 500)) < 0.2, 0.0, 0.5) + 0.01 * rng.standard_normal((3, 500))
    d[1, :40] = np.nan
    for tail, low in ((0.0, 0.0), (0.01, 0.05)):
        assert np.array_equal(
            good_loglik(d, 0.5, 0.03, 0.01, WriteFailures(e), tail, low),
            good_loglik(d, 0.5, 0.03, 0.01, e, tail, low),
        )
    n_cyc = np.isfinite(d).sum(axis=0)
    assert np.array_equal(WriteFailures(e).log_all_failed(n_cyc), n_cyc * np.log(e))


def test_no_quantisation_floor_without_a_converter_step():
    z, no = np.zeros((2, 2)), np.zeros((2, 2), bool)
    ev = Evidence(z, z, np.zeros((3, 2, 2)), z, np.full((2, 2), 6), no, no, z, 0.01, "test")
    assert level_floors(ev, np.log(2.3e-4), np.log(1.2e-4), 3) == (0.0, 0.0)


def test_write_failures_pattern_probabilities_sum_to_one():
    wf = WriteFailures(0.02, 0.3)
    from math import comb

    total = sum(comb(4, f) * np.exp(wf.log_pattern(f, 4 - f)) for f in range(5))
    assert total == pytest.approx(1.0, rel=1e-9)


def test_noisy_low_contrast_die_calls_its_stuck_devices_and_no_good_ones():
    # 5 % read noise against a 20 % TMR. With one failure rate fitted cycle by cycle, ~15 %
    # of the defect calls made at confidence >= 0.95 were good devices called stuck; the
    # beta-binomial then fitted a correlation of 0.9-0.95 (a good device with a small
    # contrast of its own, or a stuck one with a noisy cycle up, "failing" cycle after
    # cycle), and every stuck device was UNCERTAIN. No write fails on these dies (the
    # simulator's states after every write, counted once): the correlation is ~0.
    prof = load_profile("1t1r-20k").replace(
        resistance={"r_ap_median": 1.2 * R_P}, read={"noise_rel": 0.05}
    )
    sure = wrong = stuck = found = 0
    rho = []
    for k in range(2):
        chip = SimulatedChip.from_lot(prof, 9001, k)
        res = characterize_die(chip, MemorySink(), CharacterizationPlan())
        truth = chip.die.defect
        called = np.isin(res.codes, (1, 2, 3, 4)) & (res.confidence >= 0.95)
        sure += int(called.sum())
        wrong += int((called & (res.codes != truth)).sum())
        is_stuck = np.isin(truth, (DefectCode.STUCK_P, DefectCode.STUCK_AP))
        stuck += int(is_stuck.sum())
        found += int((is_stuck & (res.codes == truth)).sum())
        rho.append(res.model["write_failure_correlation"])
    assert sure >= 40
    assert wrong <= 0.02 * sure
    assert max(rho) < 0.1
    assert found >= 0.4 * stuck


def test_quantisation_averages_only_as_far_as_noise_dithers():
    step, g, n = 1e-5, 1e-4, 9
    one = 0.1 / np.sqrt(12)
    assert quantisation_sigma(step, g, n, 1e-4) == pytest.approx(one, rel=1e-3)  # no dither
    assert quantisation_sigma(step, g, n, 0.2) == pytest.approx(one / 3, rel=1e-3)  # dithered
    assert quantisation_sigma(0.0, g, n, 0.0) == 0.0


def test_coarse_converter_level_spreads_are_not_below_its_step(monkeypatch):
    # An 8-bit converter puts most devices on one code: the fitted P and AP spreads were
    # 0.001 (ln G), so a device one code (a third of the P level) away was "100 sigma" off.
    # (Such a die is classified at its second voltage now; kept at 0.1 V to test the floor.)
    monkeypatch.setattr(reads, "classify_at_second_voltage", lambda low, high: (False, ""))
    prof = load_profile("1t1r-20k").replace(read={"adc_bits": 8}, geometry={"n_arrays": 4})
    chip = SimulatedChip.from_lot(prof, LOT, 0)
    res = characterize_die(chip, MemorySink(), CharacterizationPlan(arrays=(0, 1, 2, 3)))
    g_p, g_ap = res.model["median_g_p"], res.model["median_g_ap"]
    step = 2e-3 / 2**8 / 0.1  # converter step in S at the 0.1 V read
    assert res.model["sigma_ln_p"] >= 0.9 * step / g_p / np.sqrt(12)
    assert res.model["sigma_ln_ap"] >= 0.9 * step / g_ap / np.sqrt(12)
    assert (res.codes == chip.die.defect[:4]).mean() > 0.999
    assert DefectCode.UNCERTAIN not in res.codes


def test_open_density_reaches_as_far_past_p_as_the_opens_do():
    # Resistive opens log-uniform from 27 to 300 uS, the P median at 233 uS: the open density
    # capped at the P median left the 36 opens above it to stuck-P or the shorts, called at
    # up to confidence 1 (26 of 381 calls at >= 0.95 wrong, 6.8 %).
    rng = np.random.default_rng(1)
    mu_p, mu_ap, s, open_lo = np.log(2.33e-4), np.log(1.35e-4), 0.05, np.log(2.7e-5)
    counts = {GOOD: 20000, STUCK_P: 40, STUCK_AP: 40, SHORT: 40, OPEN: 400}
    x = np.concatenate(
        [
            mu_p + s * rng.standard_normal(counts[GOOD] + counts[STUCK_P]),
            mu_ap + s * rng.standard_normal(counts[STUCK_AP]),
            np.log(6e-4) + 0.2 * rng.standard_normal(counts[SHORT]),
            rng.uniform(open_lo, np.log(3e-4), counts[OPEN]),
        ]
    )
    truth = np.repeat([GOOD, STUCK_P, STUCK_AP, SHORT, OPEN], list(counts.values()))
    good = np.where(truth == GOOD, 0.0, -500.0)  # switching evidence: clear either way
    e = Evidence1D(good, -500.0 - good, lognorm(x, mu_p, s), lognorm(x, mu_ap, s), x)
    pops = fit_populations(e, truth == GOOD, mu_p, s, open_lo, 15)
    post = normalise(pops.class_ll(e))
    call, conf = post.argmax(axis=-1), post.max(axis=-1)
    sure = (truth != GOOD) & (conf >= 0.95)
    assert sure.sum() >= 300
    assert (call[sure] != truth[sure]).mean() <= 0.01
    assert mu_p < pops.open_hi <= np.log(3e-4)
    # near P the posterior states the ambiguity: no open above P is a sure stuck-P or short
    above = (truth == OPEN) & (x > mu_p)
    assert above.sum() >= 20
    assert not ((call[above] != OPEN) & (conf[above] >= 0.95)).any()
