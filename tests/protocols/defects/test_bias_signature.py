"""The bias signature: reading each state at a second voltage tells the state of a device
that never switches, where the device-to-device spread makes the levels overlap."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols import CharacterizationPlan, DefectCode, MemorySink, characterize_die
from mtj_hil.protocols.defects.bias_signature import default_bias_voltage, gather_bias_evidence
from mtj_hil.protocols.defects.detect import classify_reads
from mtj_hil.protocols.errors import ProtocolError
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store import load_characterization
from mtj_hil.runs.store.characterization import CharacterizationRun
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.sim import SimulatedChip, load_profile

LOT = 6161  # a lot no other test uses
ARRAYS = tuple(range(16))


def _stuck_state_accuracy(bias_voltage):
    """Share of truly stuck devices (2 early-process dies, 16 arrays each) whose best guess
    names the right stuck state, and how many there were."""
    right = total = 0
    for k in range(2):
        chip = SimulatedChip.from_lot("1t1r-early-process", LOT, k)
        plan = CharacterizationPlan(arrays=ARRAYS, bias_read_voltage=bias_voltage)
        result = characterize_die(chip, MemorySink(), plan)
        truth = chip.die.defect[list(ARRAYS)]
        stuck = (truth == DefectCode.STUCK_P) | (truth == DefectCode.STUCK_AP)
        right += int((result.best_guess[stuck] == truth[stuck]).sum())
        total += int(stuck.sum())
    return right / total, total


@pytest.mark.slow
def test_signature_separates_stuck_p_from_stuck_ap_where_levels_cannot():
    without, n = _stuck_state_accuracy(None)
    with_bias, _ = _stuck_state_accuracy(0.3)
    assert n > 100
    assert without < 0.93  # levels alone: ~2 sigma apart on this die
    assert with_bias > 0.96
    assert with_bias > without + 0.05


def test_model_is_fitted_to_the_die_and_ohmic_shorts_sit_below_p():
    chip = SimulatedChip.from_lot("1t1r-early-process", LOT, 0)
    plan = CharacterizationPlan(arrays=ARRAYS, bias_read_voltage=0.3)
    result = characterize_die(chip, MemorySink(), plan)
    m = result.model["bias_signature"]
    assert m["used"] and m["n_fit_devices"] > 5000
    assert m["ap_median"] > 2 * m["p_median"] > 0
    assert abs(m["short_median"]) < m["p_median"] / 2
    assert m["stuck_state_separation_sigma"] > 3
    good = result.codes == DefectCode.GOOD
    assert np.median(result.bias_ap[good]) > np.median(result.bias_p[good])


def test_on_a_linear_die_the_signature_is_harmless():
    # Without a [bias] section the signature carries no information, and the
    # classification must stay as good as with levels alone.
    chip = SimulatedChip.from_lot(load_profile("1t1r-20k").replace(bias=None), LOT, 0)
    plan = CharacterizationPlan(arrays=tuple(range(8)), bias_read_voltage=0.3)
    result = characterize_die(chip, MemorySink(), plan)
    truth = chip.die.defect[:8]
    assert (result.codes == truth).mean() > 0.9995
    assert abs(result.model["bias_signature"]["ap_median"]) < 1e-3


def test_default_voltage_needs_room_above_the_read_voltage():
    layout = load_profile("1t1r-early-process").layout
    assert default_bias_voltage(layout, 0.1) == layout.limits.max_read_voltage
    assert default_bias_voltage(layout, 0.2) is None


def test_mismatched_stacks_are_refused():
    a = np.ones((3, 1, 4, 4))
    with pytest.raises(ProtocolError, match="share a shape"):
        gather_bias_evidence(a, a, a, np.ones((2, 1, 4, 4)))
    with pytest.raises(ProtocolError):
        classify_reads(a, a, g_high_p=a, g_high_ap=a[:2])


def test_run_file_keeps_the_evidence_with_units_and_resumes(tmp_path):
    prof = load_profile("1t1r-early-process").replace(geometry={"n_arrays": 6})
    plan = CharacterizationPlan(arrays=tuple(range(6)), bias_read_voltage=0.3)
    path = tmp_path / "bias.h5"
    die_id = "sim:early:lot6161:die0"
    # Interrupted after three arrays: the second-voltage reads of those are on disk.
    chip = SimulatedChip.from_lot(prof, LOT, 0)

    def stop(done, total, array):
        if done == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_characterization(chip, path, die_id=die_id, plan=plan, seed=LOT, progress=stop)
    with RunFile.open(path, "r") as run:
        sink = CharacterizationRun(run)
        stored = sink.load_arrays(sink.completed_arrays())
        assert len(stored) == 3
        assert all(
            d.g_high_p is not None and d.g_high_p.shape == (3, 1, 25, 25) for d in stored.values()
        )
        assert run.h5["characterization/g_high_ap"].attrs["unit"] == "S"
    # Resumed with a plan that forgot the voltage: the file's plan wins.
    forgetful = CharacterizationPlan(arrays=tuple(range(6)))
    chip = SimulatedChip.from_lot(prof, LOT, 0)
    run_characterization(chip, path, die_id=die_id, plan=forgetful, resume=True, seed=LOT)
    char = load_characterization(path)
    assert char.complete and char.plan["bias_read_voltage"] == 0.3
    assert char.bias_p is not None and char.bias_p.shape == (6, 25, 25)
    assert char.model["bias_signature"]["used"]
    with RunFile.open(path, "r") as run:
        assert run.h5["defects/bias_p"].attrs["unit"] == "1"
        assert run.h5["characterization/g_high_p"].shape[0] == 6
