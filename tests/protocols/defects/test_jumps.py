"""Telegraph noise on the switching evidence, and junctions read below the open level
(issue 22: a die with large-amplitude fluctuators).

A stuck device whose trap changes state between its P and AP reads in one cycle shows a
step of ln 1.25 = 0.22 there (a 20 % fluctuator): with only the read noise and a 4-sigma
jumpy law, that cycle passed for a switch with a small contrast and the device for a good
one (confidence 1.0). A good junction held in a 90 % trap state reads a tenth of its
conductance and switches with the die's whole contrast: it was called OPEN by the hard-open
rule, confidence 1.0."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
from mtj_hil.protocols.defects import classifier, jumps
from mtj_hil.protocols.defects.failures import WriteFailures, switches_every_cycle
from mtj_hil.sim import SimulatedChip, load_profile
from mtj_hil.testing.flaw_fuzz import random_flaws

SD, M_D, S_D = 0.0075, 0.55, 0.033  # per-cycle noise, contrast law (ln G) of a 1t1r-20k die


def _stuck_minus_good(d: np.ndarray) -> np.ndarray:
    good, stuck = jumps.switching_logliks(d, SD, M_D, S_D, WriteFailures(1.5e-3), 1e-3, 0.017)
    return stuck - good


def test_a_telegraph_step_in_one_cycle_does_not_make_a_stuck_device_good():
    d = np.array([[0.01], [0.22], [-0.02]])
    assert _stuck_minus_good(d)[0] > 3.0


def test_without_the_telegraph_law_the_step_passes_for_a_switch(monkeypatch):
    monkeypatch.setattr(jumps, "TELEGRAPH_SHARE", 0.0)
    assert _stuck_minus_good(np.array([[0.01], [0.22], [-0.02]]))[0] < 0.0


def test_clean_devices_are_scored_as_before():
    # a clean switcher and a clean stuck device: the telegraph law is not even evaluated
    d = np.array([[0.55, 0.003], [0.56, -0.004], [0.54, 0.001]])
    with_law = _stuck_minus_good(d)
    jumps.TELEGRAPH_SHARE, saved = 0.0, jumps.TELEGRAPH_SHARE
    try:
        without = _stuck_minus_good(d)
    finally:
        jumps.TELEGRAPH_SHARE = saved
    assert with_law[0] < -20 and with_law[1] > 5
    np.testing.assert_allclose(with_law, without, rtol=1e-3)


def test_switching_every_cycle_needs_three_cycles_of_the_die_contrast():
    d = np.array(
        [
            [0.51, 0.51, 0.03, 0.51, 0.51],
            [0.52, 0.50, 0.02, 0.52, 0.05],
            [0.50, np.nan, 0.04, 0.49, 0.50],
        ]
    )
    # all three; two valid only; an offset's small ratio; all three; one cycle failed
    assert switches_every_cycle(d, SD, M_D, S_D).tolist() == [True, False, False, True, False]


@pytest.fixture(scope="module")
def fluctuating_die():
    # seed 48 of the flaw fuzz: half the devices carry a fluctuator, amplitude 0.43 spread
    # lognormally (sigma 1.54), many held at the 0.9 cap
    changes = random_flaws(np.random.default_rng(48))
    assert set(changes) == {"telegraph"}
    return load_profile("1t1r-20k").replace(**changes)


def _good_called_defect(profile) -> float:
    chip = SimulatedChip.from_lot(profile, 5, 48)
    plan = CharacterizationPlan(arrays=(0, 1, 2, 3)).resolved(chip.layout)
    result = characterize_die(chip, MemorySink(), plan)
    good = chip.die.defect[:4] == DefectCode.GOOD
    return float((good & np.isin(result.codes, (1, 2, 3, 4))).sum() / good.sum())


def test_trapped_junctions_that_switch_are_not_opens(fluctuating_die):
    assert _good_called_defect(fluctuating_die) < 1e-3


def test_without_the_switching_test_they_were_opens(fluctuating_die, monkeypatch):
    monkeypatch.setattr(
        classifier, "switches_every_cycle", lambda d, sd, m, s: np.zeros(d.shape[1:], bool)
    )
    assert _good_called_defect(fluctuating_die) > 0.02
