"""Defect detection on dies with the flaws real wafers have (issue 22): resistive opens kept
apart from shorts and recorded, sense offsets estimated per line and removed, two device
sizes fitted as two populations, pinholes and half-way switches still good, and the checks
that say when the model does not fit."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
from mtj_hil.protocols.defects.diagnostics import held_out_levels, warnings_for
from mtj_hil.protocols.defects.offsets import estimate_line_offsets
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store import load_characterization
from mtj_hil.sim import SimulatedChip, load_profile

LOT = 2222  # a lot no other test uses
PLAN = CharacterizationPlan(arrays=tuple(range(8)))
DEFECTS = (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP)


def _run(prof, die: int = 0, plan: CharacterizationPlan = PLAN):
    chip = SimulatedChip.from_lot(prof, LOT, die)
    sink = MemorySink()
    result = characterize_die(chip, sink, plan)
    return result, chip.die, sink


def test_resistive_opens_are_opens_not_shorts_and_are_recorded(tmp_path):
    prof = load_profile("1t1r-20k").replace(
        defects={"open_rate": 0.01}, resistive_opens={"fraction": 1.0}
    )
    chip = SimulatedChip.from_lot(prof, LOT, 1)
    path = tmp_path / "opens.h5"
    result = run_characterization(chip, path, die_id="sim:ropen:1", plan=PLAN, seed=LOT)
    die = chip.die
    truth, ro = die.defect[:8], die.resistive_open[:8]
    assert ro.sum() >= 30
    assert (result.codes[ro] == DefectCode.OPEN).mean() >= 0.97
    assert not (result.codes[ro] == DefectCode.SHORT).any()
    # the conducting ones are the resistive sub-class, and the run file keeps it
    conducting = ro & (die.open_g[:8] > 1e-6)  # above a thousandth of the AP level
    assert result.resistive_open[conducting].all()
    assert not result.resistive_open[truth != DefectCode.OPEN].any()
    stored = load_characterization(path)
    np.testing.assert_array_equal(stored.resistive_open, result.resistive_open)
    assert stored.posterior is not None and stored.posterior.shape[-1] == 5
    assert any("resistive" in w for w in result.warnings)


def test_sense_offsets_are_estimated_per_line_and_removed():
    prof = load_profile("1t1r-20k").replace(read={"offset_sigma": 1e-6})
    result, die, _ = _run(prof)
    off = result.model["line_offsets"]
    assert off["applied"] and off["unit"] == "A"
    est = np.array(off["offsets"])
    true = die.sense_offset[:8] - die.sense_offset[:8].mean()  # bias signature: die-wide
    assert np.sqrt(np.mean((est - true) ** 2)) < 0.1e-6  # from 1 uA rms to a tenth
    truth = die.defect[:8]
    stuck = np.isin(truth, (DefectCode.STUCK_P, DefectCode.STUCK_AP))
    assert (result.codes[stuck] == truth[stuck]).mean() >= 0.97
    assert any("sense offsets" in w for w in result.warnings)


def test_large_sense_offsets_are_estimated_on_every_line():
    # 3 uA rms: a line several sigmas out moves every device on it far from the die's bias
    # signature; trimmed as odd about the die's centre, such lines were left at offset 0
    # and their stuck devices called GOOD with confidence 1
    prof = load_profile("1t1r-20k").replace(read={"offset_sigma": 3e-6})
    result, die, _ = _run(prof)
    est = np.array(result.model["line_offsets"]["offsets"])
    true = die.sense_offset[:8] - die.sense_offset[:8].mean()
    assert np.abs(est - true).max() < 0.5e-6
    truth = die.defect[:8]
    defect = truth != DefectCode.GOOD
    assert (result.codes[defect] == truth[defect]).mean() >= 0.99


def test_no_offsets_means_nothing_removed():
    result, _, _ = _run(load_profile("1t1r-20k"))
    assert not result.model["line_offsets"]["applied"]
    assert not any("sense offsets" in w for w in result.warnings)


def test_offset_estimate_is_not_fooled_by_two_device_sizes():
    prof = load_profile("1t1r-20k").replace(
        populations={"fractions": [0.7, 0.3], "r_scale": [1.0, 1.6]}
    )
    die = SimulatedChip.from_lot(prof, LOT, 2).die
    good = die.defect == DefectCode.GOOD
    off = estimate_line_offsets(1 / die.r_p, 1 / die.r_ap, good)
    assert not off.applied
    # ...while the same devices with 1 uA offsets at 0.1 V are corrected
    u = 1e-5 * np.random.default_rng(0).standard_normal((die.shape[0], die.shape[2]))
    off = estimate_line_offsets(1 / die.r_p + u[:, None], 1 / die.r_ap + u[:, None], good)
    assert off.applied
    centred = u - u.mean(axis=1, keepdims=True)
    assert np.std(off.u * off.shrink - centred) < 0.4 * np.std(u)


def test_two_device_sizes_are_fitted_as_two_populations():
    prof = load_profile("1t1r-wide-spread").replace(
        bias=None, populations={"fractions": [0.6, 0.4], "r_scale": [1.0, 2.0]}
    )
    result, die, _ = _run(prof)
    mix = result.model["level_mixture_p"]
    assert len(mix["weights"]) >= 2
    big = int(np.argmax(mix["weights"]))
    assert max(mix["weights"]) == pytest.approx(0.6, abs=0.08)
    assert len(mix["means"]) >= 2 and mix["means"][big] > min(mix["means"])
    one, _, _ = _run(load_profile("1t1r-wide-spread").replace(bias=None))
    assert len(one.model["level_mixture_p"]["weights"]) == 1  # one size: one population


def test_pinholes_and_half_way_switches_stay_good():
    prof = load_profile("1t1r-20k").replace(
        pinholes={"fraction": 0.05, "g_median": 3e-4, "g_sigma": 1.0},
        partial_switching={"fraction": 0.05},
    )
    result, die, _ = _run(prof)
    good = die.defect[:8] == DefectCode.GOOD
    leaky = good & (die.leak_g[:8] > 0)
    assert leaky.sum() > 100
    assert (result.codes[good] == DefectCode.GOOD).mean() > 0.9999
    assert (result.codes[leaky & (die.leak_g[:8] > 1e-3)] == DefectCode.GOOD).all()


def test_level_that_cannot_separate_says_uncertain_with_the_competing_classes():
    # Soft shorts on the P level and no second read voltage: physics cannot tell them from
    # stuck-P devices; the detector must say so per device, not call them with confidence.
    prof = load_profile("1t1r-20k").replace(
        bias=None, defects={"short_g_median": 2.6e-4, "short_g_sigma": 0.05, "short_rate": 0.02}
    )
    plan = CharacterizationPlan(arrays=tuple(range(8)), bias_read_voltage=None)
    result, die, _ = _run(prof, plan=plan)
    truth = die.defect[:8]
    sure = (result.confidence >= 0.95) & (result.codes != DefectCode.UNCERTAIN)
    assert (result.codes[sure] == truth[sure]).mean() >= 0.99
    assert result.model["checks"]["posterior"]["competing"].get("SHORT / STUCK_P", 0) > 20
    assert any("competing classes" in w and "SHORT / STUCK_P" in w for w in result.warnings)


def test_held_out_check_compares_the_called_devices_with_the_switchers():
    # Devices called stuck-P whose levels sit 3 P sigmas below the switchers' P level: the
    # fitted model alone would not notice; the two-sample check against the switchers does.
    rng = np.random.default_rng(7)
    n_arr, n = 4, 625
    x_p = np.log(2.3e-4) + 0.05 * rng.standard_normal((n_arr, n))
    x_ap = x_p - 0.56
    clean = rng.random((n_arr, n)) > 0.02
    codes = np.where(clean, DefectCode.GOOD, DefectCode.STUCK_P).astype(np.uint8)
    centre_p = np.full(n_arr, np.log(2.3e-4))
    centre_ap = centre_p - 0.56
    shifted = np.where(clean, x_p, x_p - 0.15)
    got = held_out_levels(shifted, codes, clean, x_p, x_ap, centre_p, centre_ap)
    assert got[0][0] == "STUCK_P" and got[0][3] < 1e-3
    same = held_out_levels(x_p, codes, clean, x_p, x_ap, centre_p, centre_ap)
    assert same[0][3] > 1e-3
    warnings = warnings_for(
        {"stuck_state": 0.0, "short_vs_p": 0.0},
        {"posterior": {"called": 0, "expected_wrong": 0, "competing": {}}, "held_out": got},
        False,
        "",
    )
    assert any("held-out check failed for STUCK_P" in w for w in warnings)


def test_opens_conducting_past_the_p_level_are_not_confident_shorts():
    # Resistive opens from 1 to 320 uS, the P median at 233 uS: about 30 of a die's 400 opens
    # conduct more than a P device does. An open density capped at the P median gave those no
    # open likelihood at all, and every one became a short called with confidence 1 (7 % of
    # the confident calls wrong).
    prof = load_profile("1t1r-20k").replace(
        defects={"open_rate": 0.02},
        resistive_opens={"fraction": 1.0, "g_low": 1e-6, "g_high": 3.2e-4},
    )
    result, die, _ = _run(prof, die=2, plan=CharacterizationPlan(arrays=tuple(range(32))))
    truth = die.defect
    above_p = (truth == DefectCode.OPEN) & (die.open_g > result.model["median_g_p"])
    assert above_p.sum() >= 20
    sure = np.isin(result.codes, DEFECTS) & (result.confidence >= 0.95)
    assert sure.sum() >= 300
    assert (result.codes[sure] != truth[sure]).mean() <= 0.01
    assert not (result.codes[above_p] == DefectCode.SHORT).any()
    # the fitted open range reaches past the P median, and no further than the opens do
    lo, hi = result.model["resistive_open_range_g"]
    assert result.model["median_g_p"] < hi <= 3.3e-4


@pytest.mark.parametrize("die", [1, 2, 3])
def test_devices_on_open_lines_of_a_passive_array_are_opens_not_good(die):
    """Passive arrays with open and shorted lines: the devices on a whole-open column read
    ~1 % of the AP level through sneak paths that change as the array is written, which
    passed for switching; 7 to 23 of them per die were called GOOD at confidence 1."""
    prof = load_profile("passive-15x15").replace(
        defects={"line_open_rate": 2.0, "line_short_rate": 2.0}
    )
    chip = SimulatedChip.from_lot(prof, 0, die)  # lot 0: dies whose open lines were missed
    result = characterize_die(chip, MemorySink(), CharacterizationPlan(arrays=(0, 1)))
    truth = chip.die.defect[:2]
    assert (truth == DefectCode.OPEN).sum() >= 20  # open lines on these dies
    called_good = (result.codes == DefectCode.GOOD) & (truth != DefectCode.GOOD)
    assert called_good.sum() == 0
    opens = truth == DefectCode.OPEN
    assert (result.codes[opens] == DefectCode.OPEN).mean() >= 0.95
