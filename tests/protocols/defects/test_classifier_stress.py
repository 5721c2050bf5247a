"""Defect detection on dies outside the shipped profiles: noisy reads against a small
switching contrast, a coarse converter, dies without shorts, tiny dies. Each case broke an
earlier version of the classifier (see the comments)."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
from mtj_hil.protocols.defects.contrast import good_loglik, lognorm, write_failure_rate
from mtj_hil.protocols.defects.evidence import quantisation_step
from mtj_hil.sim import SimulatedChip, load_profile

LOT = 5151  # a lot no other test uses
R_P = 4292.0
NO_DEFECTS = {"short_rate": 0.0, "open_rate": 0.0, "stuck_p_rate": 0.0, "stuck_ap_rate": 0.0}


def _run(dies: int = 2, arrays: int = 8, **sections):
    sections.setdefault("geometry", {"n_arrays": arrays})
    prof = load_profile("1t1r-20k").replace(**sections)
    found, truth, results = [], [], []
    for k in range(dies):
        chip = SimulatedChip.from_lot(prof, LOT, k)
        plan = CharacterizationPlan(arrays=tuple(range(arrays)))
        results.append(characterize_die(chip, MemorySink(), plan))
        found.append(results[-1].codes)
        truth.append(chip.die.defect)
    return np.stack(found), np.stack(truth), results


def _false_defects(found: np.ndarray, truth: np.ndarray) -> int:
    good = truth == DefectCode.GOOD
    return int((good & (found != DefectCode.GOOD) & (found != DefectCode.UNCERTAIN)).sum())


def test_noisy_reads_with_low_tmr_do_not_turn_good_devices_into_defects():
    # 3 % read noise against a 20 % TMR: fitting only the devices that switched by 6 noise
    # sigmas in every cycle kept the largest contrasts, and 6 % of good devices were called
    # stuck (12 % UNCERTAIN).
    found, truth, _ = _run(resistance={"r_ap_median": 1.2 * R_P}, read={"noise_rel": 0.03})
    assert _false_defects(found, truth) <= 2
    assert (found == DefectCode.UNCERTAIN).mean() <= 5e-3


def test_very_noisy_reads_still_find_stuck_devices():
    # 10 % read noise, 75 % TMR: noise counted as write failures made every stuck device
    # UNCERTAIN ("maybe a good device whose writes all failed").
    found, truth, results = _run(read={"noise_rel": 0.10})
    stuck = np.isin(truth, (DefectCode.STUCK_P, DefectCode.STUCK_AP))
    assert stuck.sum() >= 10
    assert (found[stuck] == truth[stuck]).mean() >= 0.75
    assert _false_defects(found, truth) == 0
    assert all(r.model["write_failure_rate"] < 1e-3 for r in results)


def test_coarse_converter_codes_are_not_mistaken_for_defects():
    # An 8-bit converter puts most devices on one code: the MAD of ln G was 0, so a device
    # one code away sat "150 sigma" off its level and was called stuck or short.
    found, truth, results = _run(read={"adc_bits": 8})
    assert _false_defects(found, truth) <= 2
    defects = truth != DefectCode.GOOD
    assert (found[defects] == truth[defects]).mean() >= 0.97
    # ...and the user is told the converter is coarse (a 6-bit one silently made every
    # stuck-AP device "open").
    assert any("quantised in steps" in w for w in results[0].warnings)


def test_continuous_readings_are_not_reported_as_quantised():
    g = 2.3e-4 * np.exp(0.05 * np.random.default_rng(1).standard_normal(5000))
    assert quantisation_step(g) == 0.0
    assert quantisation_step(np.round(g / 1e-5) * 1e-5) == pytest.approx(1e-5, rel=1e-3)


def test_die_without_shorts_gets_no_short_calls_nor_short_warning():
    # The short class was fitted to the upper tail of a large stuck-P population and the
    # "short and P conductances overlap" warning was given on dies with no short at all.
    _, _, clean = _run(dies=1, defects=NO_DEFECTS)
    assert not any("short" in w for w in clean[0].warnings)
    found, truth, results = _run(defects={**NO_DEFECTS, "stuck_p_rate": 0.2})
    assert (found == DefectCode.SHORT).sum() == 0
    assert (found == DefectCode.UNCERTAIN).sum() == 0
    assert not any("short and P" in w for r in results for w in r.warnings)
    assert not results[0].model["shorts_found"]


def test_a_tiny_die_that_switches_is_classified_not_refused():
    # 16 devices: fewer than the 20 a fit needed, so every such die was refused.
    found, truth, _ = _run(dies=3, arrays=1, geometry={"n_arrays": 1, "rows": 4, "cols": 4})
    assert found.shape == (3, 1, 4, 4)
    assert (found == truth).mean() >= 0.9


def test_good_loglik_integrates_the_contrast_out_exactly():
    # Three switched cycles: the closed form must equal a numerical integral over delta.
    d = np.array([[0.52], [0.61], [0.47]])
    m_d, s_d, sd, e = 0.55, 0.05, 0.08, 1e-12
    delta = np.linspace(0.0, 1.2, 200001)
    like = np.exp(lognorm(delta, m_d, s_d) + lognorm(d, delta, sd).sum(axis=0))
    numeric = np.log(like.sum() * (delta[1] - delta[0]))
    assert good_loglik(d, m_d, s_d, sd, e)[0] == pytest.approx(numeric, abs=1e-3)


def test_good_loglik_tail_of_small_contrasts_is_integrated_exactly():
    # A device switching with a tenth of the die's contrast (a pinhole leak) is "good" only
    # through the tail; its closed form must equal the numerical integral over delta.
    d = np.array([[0.061], [0.052], [0.058]])
    m_d, s_d, sd, e, tail, low = 0.55, 0.03, 0.007, 1e-12, 1e-3, 0.016
    delta = np.linspace(0.0, 1.2, 400001)
    gauss = np.exp(lognorm(delta, m_d, s_d))
    flat = np.where((delta >= low) & (delta <= m_d), 1.0 / (m_d - low), 0.0)
    prior = (1 - tail) * gauss + tail * flat
    like = prior * np.exp(lognorm(d, delta, sd).sum(axis=0))
    numeric = np.log(like.sum() * (delta[1] - delta[0]))
    got = good_loglik(d, m_d, s_d, sd, e, tail, low)[0]
    assert got == pytest.approx(numeric, abs=2e-3)
    assert got > good_loglik(d, m_d, s_d, sd, e)[0] + 50  # the tail carries it


def test_write_failure_rate_counts_unswitched_cycles_not_noise():
    rng = np.random.default_rng(3)
    n, cycles, sd, m_d = 20000, 3, 0.15, 0.56
    d = m_d + sd * rng.standard_normal((cycles, n))
    failed = rng.random((cycles, n)) < 0.01
    d[failed] = sd * rng.standard_normal(int(failed.sum()))
    ok = np.ones(n, bool)
    e, _, _ = write_failure_rate(d, ok, ok, sd, m_d, sd, 1e-3, 6.0)
    assert e == pytest.approx(0.01, rel=0.25)
    e0, _, _ = write_failure_rate(
        m_d + sd * rng.standard_normal((cycles, n)), ok, ok, sd, m_d, sd, 1e-3, 6.0
    )
    assert e0 < 1e-3
