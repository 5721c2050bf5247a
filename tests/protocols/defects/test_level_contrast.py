"""A good device's level and contrast scored jointly (a low device switches less, and the
same P reads enter both), and re-measured devices written with a pulse, not taken as
written because their opposite state already reads beyond the verify threshold."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import multivariate_normal

from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
from mtj_hil.protocols.defects.detect import measure_switching
from mtj_hil.protocols.defects.joint import conditional_level_ll, level_contrast_cov
from mtj_hil.protocols.defects.levels import LevelMixture, level_loglik
from mtj_hil.sim import SimulatedChip, load_profile

R_P = 4292.0


def test_contrast_times_conditional_level_is_the_joint_density():
    # one Gaussian component: N(dbar) x N(x_p | dbar) must be the bivariate density of
    # (x_p, dbar) with the physical covariance plus the read noise the two share
    sig_p, m_d, s_d, sigma, n, cov_lc = 0.05, 0.18, 0.03, 0.05, 3, 0.3 * 0.05 * 0.03
    mix = LevelMixture(np.ones(1), np.zeros(1), np.array([sig_p]))
    level_noise = sigma / np.sqrt(n)
    x = np.array([[-0.22, 0.0, 0.05]])
    dbar = np.array([[0.07, 0.18, 0.25]])
    n_cyc = np.full(x.shape, n)
    got = conditional_level_ll(
        x, np.zeros(1), mix, level_noise, dbar, n_cyc, (m_d, s_d), sigma, cov_lc
    )
    var_d = s_d**2 + 2 * sigma**2 / n
    got = got - 0.5 * (dbar - m_d) ** 2 / var_d - 0.5 * np.log(2 * np.pi * var_d)
    cov = cov_lc + sigma**2 / n
    law = multivariate_normal([0.0, m_d], [[sig_p**2 + level_noise**2, cov], [cov, var_d]])
    want = law.logpdf(np.stack([x[0], dbar[0]], axis=-1))
    assert got[0] == pytest.approx(want, abs=1e-9)


def test_without_covariance_or_shared_noise_the_level_law_is_unchanged():
    mix = LevelMixture(np.array([0.7, 0.3]), np.array([0.0, 0.3]), np.array([0.04, 0.05]))
    x = np.linspace(-0.3, 0.5, 9)[None, :]
    dbar = np.full(x.shape, 0.05)  # far from the contrast law: must not matter
    got = conditional_level_ll(
        x, np.zeros(1), mix, 0.02, dbar, np.full(x.shape, 3), (0.6, 0.03), 0.0, 0.0
    )
    assert got == pytest.approx(level_loglik(x, np.zeros(1), mix, 0.02))


def test_level_contrast_covariance_is_recovered_under_read_noise():
    # true level and contrast correlated 0.3; each of 3 cycles reads P and AP with 5 % noise:
    # the measured covariance carries sigma^2 / 3 of shared P noise, which must come off
    rng = np.random.default_rng(3)
    n, cycles, sig_p, m_d, s_d, rho, sigma = 40000, 3, 0.05, 0.18, 0.03, 0.3, 0.05
    z1, z2 = rng.standard_normal((2, n))
    level = sig_p * z1
    contrast = m_d + s_d * (rho * z1 + np.sqrt(1 - rho**2) * z2)
    p = level + sigma * rng.standard_normal((cycles, n))
    ap = level - contrast + sigma * rng.standard_normal((cycles, n))
    x_p, dbar = p.mean(axis=0)[None], (p - ap).mean(axis=0)[None]
    clean = np.ones(x_p.shape, bool)
    cov = level_contrast_cov(x_p, dbar, np.full(x_p.shape, cycles), clean, sigma, sig_p, s_d)
    assert cov / (sig_p * s_d) == pytest.approx(rho, abs=0.06)


def test_a_remeasured_device_is_pulsed_though_it_reads_beyond_the_threshold():
    # 20 % TMR: the die's nominal verify threshold sits between the median P and AP levels,
    # and a device high in conductance reads above it in AP. Re-measured alone from AP, its
    # P write was skipped (it "read P") and the read before it was recorded as its P read.
    prof = load_profile("1t1r-20k").replace(
        resistance={"r_ap_median": 1.2 * R_P}, read={"noise_rel": 0.0, "noise_abs": 0.0}
    )
    chip = SimulatedChip.from_lot(prof, 5253, 0)
    die, thr = chip.die, chip.layout.threshold_g
    v = 0.1
    g_ap = (1 / die.r_ap[0]) * (1 + die.k_ap[0] * v * v)
    high = (die.defect[0] == 0) & (g_ap > 1.03 * thr)
    assert high.any()
    i, j = np.argwhere(high)[0]
    die.state[0][i, j] = False  # in AP (True is P)
    die.invalidate_tables(0)
    selected = np.zeros((chip.layout.rows, chip.layout.cols), bool)
    selected[i, j] = True
    data = measure_switching(chip, 0, cycles=2, read_voltage=v, selected=selected)
    contrast = np.log(data.g_after_p[:, 0, i, j] / data.g_after_ap[:, 0, i, j])
    assert (contrast > 0.05).all()


def test_dead_arrays_read_afresh_do_not_pass_for_write_failures():
    # Dead arrays (every device a hard open) read afresh after every write: their reads are
    # noise, whose scatter between cycles looks like switches and failed writes on the same
    # devices; counted as such, the failure rate clustered (~0.95) and stuck devices
    # elsewhere were called GOOD with confidence 1.
    prof = load_profile("1t1r-20k").replace(spatial={"dead_array_rate": 2.0})
    chip = SimulatedChip.from_lot(prof, 5254, 0)
    result = characterize_die(chip, MemorySink(), CharacterizationPlan(remeasure_cycles=0))
    truth = chip.die.defect
    assert (truth == DefectCode.OPEN).reshape(truth.shape[0], -1).all(axis=1).any()
    stuck = np.isin(truth, (DefectCode.STUCK_P, DefectCode.STUCK_AP))
    assert not (result.codes[stuck] == DefectCode.GOOD).any()
    assert result.model["write_failure_correlation"] < 0.5
