"""The write-failure model fitted with each device's own contrast integrated out (issue 22):
on a noisy, low-contrast die a good device whose contrast is small looks "failed" cycle
after cycle by read noise alone, and a stuck device looks switched now and then."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy.stats import norm

from mtj_hil.protocols.defects.contrast import fit_contrast
from mtj_hil.protocols.defects.failures import WriteFailures, failure_counts, fit_failure_spread

SD, M_D, S_D = 0.07, 0.18, 0.03  # 5 % read noise per read, 20 % TMR: 2.5 sigmas per cycle


def _noisy_die(rho: float, mean: float, seed: int, n: int = 20000, stuck: float = 0.004):
    """Per-cycle log ratios ``(3, n)`` of a die whose good devices fail their writes with a
    beta-distributed probability (``mean``, correlation ``rho``); a share ``stuck`` never
    switches."""
    return _noisy_die_truth(rho, mean, seed, n, stuck)[0]


def _noisy_die_truth(rho: float, mean: float, seed: int, n: int = 20000, stuck: float = 0.004):
    """:func:`_noisy_die`, and each device's contrast (0 if stuck)."""
    rng = np.random.default_rng(seed)
    if rho > 0:
        conc = 1.0 / rho - 1.0
        p = rng.beta(mean * conc, (1.0 - mean) * conc, n)
    else:
        p = np.full(n, mean)
    delta = rng.normal(M_D, S_D, n)  # each device's own contrast
    failed = rng.random((3, n)) < p
    never = rng.random(n) < stuck
    failed[:, never] = True
    d = np.where(failed, 0.0, delta) + SD * rng.standard_normal((3, n))
    return d, np.where(never, 0.0, delta)


@pytest.mark.parametrize(
    ("rho", "mean", "seed"), [(0.3, 0.01, 1), (0.3, 0.01, 2), (0.6, 0.01, 1), (0.6, 0.01, 2)]
)
def test_failure_correlation_is_fitted_under_each_devices_own_contrast(rho, mean, seed):
    # Scored cycle by cycle against the die's contrast, and on the devices a mixture fit
    # calls switching (stuck ones with a noisy cycle up among them), these dies fitted a
    # correlation of 0.87-0.95 whatever the truth.
    d = _noisy_die(rho, mean, seed)
    wf = fit_failure_spread(d, np.ones(d.shape[1], bool), SD, M_D, S_D, 1e-3)
    assert wf.rho == pytest.approx(rho, abs=0.1)
    assert wf.mean == pytest.approx(mean, rel=0.3)


@pytest.mark.parametrize("mean", [0.0, 1e-3])
def test_no_correlation_without_clustered_failures_on_a_noisy_die(mean):
    # Devices whose writes never (or independently) fail: one rate for all devices. (The
    # cycle-by-cycle fit gave 0.95 here: every low-contrast good device and every stuck
    # device in the fit set "failed" cycle after cycle.)
    for seed in (1, 2, 3):
        d = _noisy_die(0.0, mean, seed)
        ok = np.ones(d.shape[1], bool)
        dbar = d.mean(axis=0)
        m_d, s_d, _ = fit_contrast(dbar, np.full(dbar.shape, 3), ok, SD)
        e = max(mean, 1e-3)
        assert fit_failure_spread(d, ok, SD, m_d, s_d, e) == WriteFailures(e)


def test_failure_counts_sum_every_set_of_failed_cycles_exactly():
    # brute force: every set of failed cycles, the contrast integrated on a fine grid
    rng = np.random.default_rng(4)
    d = rng.normal(0.1, 0.1, (4, 6))
    d[3, 0] = d[1, 1] = np.nan
    d[:, 5] = np.nan
    tail, low = 0.01, 0.05
    poly, n = failure_counts(d, SD, (M_D, S_D), tail, low)
    assert n.tolist() == [3, 3, 4, 4, 4, 0]
    grid = np.linspace(M_D - 10 * S_D, M_D + 10 * S_D, 40001)
    step = grid[1] - grid[0]
    prior = (1 - tail) * norm.pdf(grid, M_D, S_D) + tail * ((grid >= low) & (grid <= M_D)) / (
        M_D - low
    )
    for j in range(5):
        v = d[np.isfinite(d[:, j]), j]
        want = np.zeros(v.size + 1)
        for sw in itertools.product([False, True], repeat=v.size):
            sw = np.array(sw)
            flat = np.prod(norm.pdf(v[~sw], 0.0, SD))
            dens = norm.pdf(v[sw][:, None], grid[None, :], SD).prod(axis=0)
            want[v.size - sw.sum()] += flat * (np.sum(prior * dens) * step if sw.any() else 1.0)
        assert poly[: v.size + 1, j] == pytest.approx(np.log(want), rel=1e-4)
        assert np.all(np.isneginf(poly[v.size + 1 :, j]))
    assert poly[0, 5] == 0.0  # no cycle: nothing to explain


def test_only_the_usual_count_of_cycles_is_fitted():
    # A re-measurement adds cycles to the devices left uncertain, many of them stuck: among
    # their 6 noisy cycles one passes for a switch, and "failed 5 of 6" made the fitted
    # correlation 0.95. Their extra cycles are left out of the fit.
    rng = np.random.default_rng(9)
    d, delta = _noisy_die_truth(0.0, 0.0, 1, stuck=0.0035)
    # the re-measured: the 1 % of devices whose cycles look least switched
    again = np.argsort(d.mean(axis=0))[: d.shape[1] // 100]
    extra = np.full((3, d.shape[1]), np.nan)
    extra[:, again] = delta[again] + SD * rng.standard_normal((3, again.size))
    ok = np.ones(d.shape[1], bool)
    both = np.concatenate([d, extra])
    assert fit_failure_spread(both, ok, SD, M_D, S_D, 1e-3) == WriteFailures(1e-3)


def test_more_uncertain_devices_than_the_budget_re_measures_the_least_settled():
    # One cycle leaves every stuck device UNCERTAIN (its only write may have failed): with a
    # budget of 0.2 % of the devices, the budget's worth are re-measured, not none.
    from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
    from mtj_hil.sim import SimulatedChip

    chip = SimulatedChip.from_lot("1t1r-early-process", 4243, 0)
    plan = CharacterizationPlan(
        arrays=tuple(range(8)), cycles=1, remeasure_cycles=3, remeasure_budget=0.002
    )
    sink = MemorySink()
    result = characterize_die(chip, sink, plan)
    r = result.remeasured
    assert r["uncertain_before"] > r["budget"] == 10
    assert r["devices"] == r["budget"]
    assert int(sink.remeasured[1].sum()) == r["budget"]
    assert r["uncertain_after"] <= r["uncertain_before"] - r["budget"] // 2
    assert any("least settled were re-measured" in w for w in result.warnings)
    truth = chip.die.defect[:8]
    settled = result.codes != DefectCode.UNCERTAIN
    assert np.mean(result.codes[settled] == truth[settled]) > 0.998


def test_doubtful_defect_calls_are_re_measured_where_the_budget_leaves_room():
    # A good device whose 3 cycles all fell 3-4 noise sigmas low is called stuck at 0.96-0.99
    # on a noisy die: with room in the budget such calls are re-measured with the UNCERTAIN.
    from mtj_hil.protocols import CharacterizationPlan, MemorySink, characterize_die
    from mtj_hil.sim import SimulatedChip, load_profile

    prof = load_profile("1t1r-20k").replace(
        resistance={"r_ap_median": 1.2 * 4292.0}, read={"noise_rel": 0.03}
    )
    chip = SimulatedChip.from_lot(prof, 9001, 0)
    plan = CharacterizationPlan(arrays=tuple(range(8)), remeasure_budget=0.05)
    sink = MemorySink()
    r = characterize_die(chip, sink, plan).remeasured
    assert r["doubtful_calls"] > 0
    assert r["devices"] == r["uncertain_before"] + r["doubtful_calls"]
    assert int(sink.remeasured[1].sum()) == r["devices"]
