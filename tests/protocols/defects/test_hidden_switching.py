"""A coarse converter hides switching (issue 22): on a die read through 6 bits one code is
31 uA at 0.1 V, more than a P device's whole current, so good devices read one code after
P and AP writes and opens and stuck-AP devices all read code 0. None of them may be called
with confidence: the good device's chance of hiding its switch, from the die's own level
laws over the converter's bins, enters its likelihood
(:mod:`mtj_hil.protocols.defects.hidden`)."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
from mtj_hil.protocols.defects.hidden import BinnedLaw, fit_binned_law, hide_probability
from mtj_hil.sim import SimulatedChip, load_profile

LOT = 2323  # a lot no other test uses
PLAN = CharacterizationPlan(arrays=tuple(range(8)))
CONFIDENT = 0.95


def _called(bits: int, die: int = 0):
    prof = load_profile("1t1r-20k").replace(
        read={"adc_bits": bits}, defects={"open_rate": 0.003, "stuck_ap_rate": 0.004}
    )
    chip = SimulatedChip.from_lot(prof, LOT, die)
    result = characterize_die(chip, MemorySink(), PLAN)
    return result, chip.die.defect[:8]


def test_six_bit_die_calls_no_hidden_switch_with_confidence():
    result, truth = _called(6)
    sure = (result.codes != DefectCode.UNCERTAIN) & (result.confidence >= CONFIDENT)
    wrong = sure & (result.codes != truth)
    # the die has good devices whose switch the converter hides, and opens at code 0
    hidden_good = (truth == DefectCode.GOOD) & (result.best_guess != DefectCode.GOOD)
    assert hidden_good.any() or (result.codes[truth == DefectCode.GOOD] == 5).any()
    assert (truth == DefectCode.OPEN).sum() >= 3
    assert int(wrong.sum()) == 0, np.unique(truth[wrong], return_counts=True)
    # ...and they come out UNCERTAIN, with the competing classes in their posterior
    unsure = result.codes == DefectCode.UNCERTAIN
    assert unsure[truth == DefectCode.OPEN].all()
    post = result.posterior[unsure & (truth == DefectCode.OPEN)]
    assert (post[:, DefectCode.OPEN] > 0.2).all() and (post[:, DefectCode.STUCK_AP] > 0.2).all()


def test_eight_bit_die_still_calls_its_stuck_devices():
    result, truth = _called(8)
    stuck = np.isin(truth, (DefectCode.STUCK_P, DefectCode.STUCK_AP))
    assert (result.codes[stuck] == truth[stuck]).mean() >= 0.95
    assert (result.codes[truth == DefectCode.OPEN] == DefectCode.OPEN).all()


def test_binned_law_recovers_a_law_spanning_codes():
    rng = np.random.default_rng(1)
    step = 1e-5
    g = np.exp(rng.normal(np.log(7.3e-5), 0.1, 20000))
    law = fit_binned_law(np.round(g / step), step)
    assert law.mu == pytest.approx(np.log(7.3e-5), abs=0.01)
    assert law.sigma == pytest.approx(0.1, rel=0.05)
    assert not law.censored


def test_hide_probability_follows_the_contrast():
    step = 1e-5
    here = BinnedLaw(np.log(3e-5), 0.05, step, 0.0)
    # a contrast much smaller than a code: almost every device stays in its code
    assert hide_probability(np.array([3.0]), here, -0.01, 0.01)[0] > 0.9
    # a contrast of a whole code: almost none does
    assert hide_probability(np.array([3.0]), here, -0.6, 0.02)[0] < 1e-3
    assert hide_probability(np.array([0.0]), here, -0.6, 0.02)[0] == 0.0
