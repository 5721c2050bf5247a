"""A per-device Delta spread in the simulator, recovered by the fits; without a spread the
dies are the ones drawn before it existed."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest

from mtj_hil.errors import ConfigError
from mtj_hil.protocols.chip import CellState
from mtj_hil.protocols.switching.analysis import analyse
from mtj_hil.protocols.switching.fit import STATUS_OK, interval_coverage
from mtj_hil.protocols.switching.procedure import (
    MemorySwitchingSink,
    SwitchingPlan,
    default_amplitudes,
    default_widths,
    measure_switching_die,
)
from mtj_hil.sim import SimulatedChip, load_profile
from mtj_hil.sim.die import make_die

SIGMA = 0.1
BEFORE = "060cb4898bc605edcc54fc66e56b273a386d1b378740747ccf6d03de3648a702"


@pytest.fixture(scope="module")
def spread_fit():
    prof = load_profile("1t1r-20k").replace(switching={"delta_sigma": SIGMA})
    chip = SimulatedChip.from_lot(prof, 0, 1)
    layout = chip.layout
    plan = SwitchingPlan(
        arrays=(2,),
        amplitudes=default_amplitudes(layout),
        widths=default_widths(layout),
        disturb_reads=0,
    )
    data = measure_switching_die(chip, MemorySwitchingSink(), plan)
    an = analyse(
        data,
        [2],
        layout.limits,
        tau0=plan.tau0,
        target_wer=plan.target_wer,
        disturb_reads=0,
        disturb_voltage=0.3,
    )
    return chip.die, an


@pytest.mark.slow
def test_fits_recover_per_device_delta_within_the_stated_uncertainty(spread_fit):
    die, an = spread_fit
    truth = die.delta[[2]]
    assert 0.08 < truth.std() / truth.mean() < 0.12  # the spread is really drawn
    for name in ("AP", "P"):
        fit = an.directions[name]
        ok = fit.status == STATUS_OK
        assert ok.sum() > 550
        # per device, against the per-device truth (not the profile's median)
        assert np.median(np.abs(fit.delta[ok] / truth[ok] - 1)) < 0.06
        assert 0.82 < interval_coverage(fit.delta, fit.delta_sd, truth) < 0.97
        # fits follow the device: correlation with the truth well above the noise
        assert np.corrcoef(fit.delta[ok], truth[ok])[0, 1] > 0.8
        # the population's Delta spread (fit noise removed) holds the truth's sample spread
        pop = fit.population
        true_spread = truth[ok].std() / truth[ok].mean()
        assert pop["delta_sigma_rel_sd"] > 0
        assert (
            abs(pop["delta_sigma_rel"] - true_spread)
            < 3 * pop["delta_sigma_rel_sd"] + 0.03 * true_spread
        )


def test_no_spread_leaves_existing_dies_unchanged():
    base = load_profile("1t1r-20k")
    zero = base.replace(switching={"delta_sigma": 0.0})
    a, b = make_die(base, 0, 3), make_die(zero, 0, 3)
    assert base.switching.delta_sigma == 0.0
    assert np.all(a.delta == base.switching.delta)
    for key in ("r_p", "r_ap", "vc_to_p", "vc_to_ap", "v_breakdown", "short_g", "defect", "state"):
        assert np.array_equal(getattr(a, key), getattr(b, key)), key
    # and a spread changes Delta only: every other draw is the same
    c = make_die(base.replace(switching={"delta_sigma": SIGMA}), 0, 3)
    assert not np.array_equal(a.delta, c.delta)
    for key in ("r_p", "r_ap", "vc_to_p", "vc_to_ap", "defect", "state"):
        assert np.array_equal(getattr(a, key), getattr(c, key)), key
    # draws and switching outcomes of a die without a spread are bit for bit those of the
    # simulator before the spread existed (fingerprint taken at commit adbbd72)
    h = hashlib.sha256()
    for key in ("r_p", "r_ap", "vc_to_p", "vc_to_ap", "v_breakdown", "short_g", "defect", "state"):
        h.update(np.ascontiguousarray(getattr(a, key)).tobytes())
    for i, amp in enumerate((0.6, 0.7, 0.8, 0.9)):
        a.apply_pulse(0, np.ones((25, 25), bool), CellState.AP if i % 2 else CellState.P, amp, 1e-7)
        h.update(a.state.tobytes())
    assert h.hexdigest() == BEFORE


def test_delta_spread_out_of_range_names_the_key():
    with pytest.raises(ConfigError, match="switching.delta_sigma"):
        load_profile("1t1r-20k").replace(switching={"delta_sigma": 0.7})
