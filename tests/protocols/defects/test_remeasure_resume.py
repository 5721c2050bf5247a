"""A run stopped during targeted re-measurement resumes with the rounds it already stored:
they are replayed, not measured again (nothing completed is lost or recorded twice), and a
stored record that does not fit the run is measured again rather than trusted."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

from mtj_hil.cli import main
from mtj_hil.protocols import CharacterizationPlan, MemorySink, characterize_die
from mtj_hil.protocols.characterize.replay import fits, stored_rounds
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store.characterization import CharacterizationRun, load_characterization
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.sim import SimulatedChip, load_profile

PLAN = CharacterizationPlan(arrays=tuple(range(12)), remeasure_rounds=2)


def _noisy_chip(die: int = 0) -> SimulatedChip:
    # TMR 20 % read with 5 % noise: two rounds of re-measurement on most dies
    prof = load_profile("1t1r-20k")
    prof = prof.replace(
        resistance={"r_ap_median": 1.2 * prof.resistance.r_p_median}, read={"noise_rel": 0.05}
    )
    return SimulatedChip.from_lot(prof, 9001, die)


class _StopAfterRound(MemorySink):
    """Stores every re-measurement record; the first ``stop`` saves each end the run (as a
    kill right after the record reached the disk would)."""

    def __init__(self, stop: int = 1) -> None:
        super().__init__()
        self.stop = stop
        self.saves = 0

    def save_remeasurement(self, arrays, selected, data) -> None:
        super().save_remeasurement(arrays, selected, data)
        self.saves += 1
        if self.saves <= self.stop:
            raise KeyboardInterrupt


def _first_round_copy(sink: MemorySink) -> tuple[list[int], np.ndarray, list[np.ndarray]]:
    arrays, selected, data = sink.remeasured
    return list(arrays), selected.copy(), [d.g_after_p[:3].copy() for d in data]


def test_a_run_stopped_after_round_one_resumes_with_round_two_only():
    sink = _StopAfterRound()
    with pytest.raises(KeyboardInterrupt):
        characterize_die(_noisy_chip(), sink, PLAN)
    arrays, selected, before = _first_round_copy(sink)

    chip = _noisy_chip()  # a new session on the same die
    result = characterize_die(chip, sink, PLAN)
    assert result.remeasured["replayed_rounds"] == 1
    assert len(result.remeasured["rounds"]) == 2
    done, selected_after, data = sink.remeasured
    assert list(done) == arrays and np.array_equal(selected_after, selected)
    for k, d in enumerate(data):
        assert d.g_after_p.shape[0] == 6  # round 1 kept, round 2 added
        np.testing.assert_array_equal(d.g_after_p[:3], before[k])  # not measured again
    # the resumed session wrote only round 2's devices (and its verify retries)
    second = result.remeasured["rounds"][1]["devices"]
    rewritten = sum(int(np.isfinite(d.g_after_p[3:]).all(axis=(0, 1)).sum()) for d in data)
    assert rewritten == second < int(selected.sum())


def test_round_two_after_a_resume_chooses_the_devices_an_unbroken_run_chooses():
    whole = MemorySink()
    unbroken = characterize_die(_noisy_chip(), whole, PLAN)
    sink = _StopAfterRound()
    with pytest.raises(KeyboardInterrupt):
        characterize_die(_noisy_chip(), sink, PLAN)
    resumed = characterize_die(_noisy_chip(), sink, PLAN)
    assert resumed.remeasured["rounds"][1]["devices"] == unbroken.remeasured["rounds"][1]["devices"]
    for a, b in zip(whole.remeasured[2], sink.remeasured[2], strict=True):
        np.testing.assert_array_equal(a.g_after_p[:3], b.g_after_p[:3])
        assert np.array_equal(np.isfinite(a.g_after_p[3:]), np.isfinite(b.g_after_p[3:]))


def test_a_run_stopped_after_its_last_round_measures_nothing_again():
    sink = MemorySink()
    first = characterize_die(_noisy_chip(), sink, PLAN)
    kept = [d.g_after_p.copy() for d in sink.remeasured[2]]
    chip = _noisy_chip()
    again = characterize_die(chip, sink, PLAN)  # every array stored: only the rounds left
    assert chip.program_calls == 0
    assert again.remeasured["replayed_rounds"] == len(first.remeasured["rounds"])
    np.testing.assert_array_equal(again.codes, first.codes)
    for a, b in zip(kept, sink.remeasured[2], strict=True):
        np.testing.assert_array_equal(a, b.g_after_p)


def test_a_record_of_other_devices_is_measured_again_not_trusted():
    sink = _StopAfterRound()
    with pytest.raises(KeyboardInterrupt):
        characterize_die(_noisy_chip(), sink, PLAN)
    arrays, selected, data = sink.remeasured
    moved = selected.copy()
    moved[0] = np.roll(moved[0], 1)  # not the devices this classification re-measures
    sink.remeasured = (arrays, moved, data)
    result = characterize_die(_noisy_chip(), sink, PLAN)
    assert "replayed_rounds" not in result.remeasured
    assert np.array_equal(sink.remeasured[1], selected)  # measured again, record replaced


def test_stored_rounds_refuse_shapes_streams_and_partial_rounds():
    sink = MemorySink()
    characterize_die(_noisy_chip(), sink, PLAN)
    arrays, selected, data = sink.remeasured
    first = np.zeros((12, 25, 25), bool)
    first[list(arrays)] = selected  # arrays 0..11: stacked index = array number
    names = ["g_after_p", "g_after_ap", "g_high_p", "g_high_ap"]
    assert len(stored_rounds(sink, list(range(12)), first, names, 3, 2)) == 2
    assert len(stored_rounds(sink, list(range(12)), first, names, 3, 1)) == 1  # cut to plan
    assert stored_rounds(sink, list(range(12)), first, names, 4, 2) == []  # 6 is not 4 + 4
    assert stored_rounds(sink, list(range(12)), first, names[:2], 3, 2) == []  # streams differ
    other = first.copy()
    other[arrays[0]] = False
    assert stored_rounds(sink, list(range(12)), other, names, 3, 2) == []  # arrays differ
    assert stored_rounds(object(), list(range(12)), first, names, 3, 2) == []  # cannot load
    rounds = stored_rounds(sink, list(range(12)), first, names, 3, 2)
    later = np.zeros_like(first)
    for i, d in rounds[1].items():
        later[i] = np.isfinite(d.g_after_p).any(axis=(0, 1))
    assert fits(rounds[1], later)
    fewer = later.copy()
    fewer[np.argwhere(later)[0][0]] = False  # an array with round-2 reads chose nothing
    assert not fits(rounds[1], fewer)


def _stopped_after_round_one(tmp_path, monkeypatch) -> Path:
    """A run file whose characterisation stopped right after round 1 of re-measurement was
    stored (Ctrl-C as the record reached the disk)."""
    out = tmp_path / "die.h5"
    real = CharacterizationRun.save_remeasurement

    def save(self, arrays, selected, data):
        real(self, arrays, selected, data)
        raise KeyboardInterrupt

    with monkeypatch.context() as patch:
        patch.setattr(CharacterizationRun, "save_remeasurement", save)
        with pytest.raises(KeyboardInterrupt):
            run_characterization(_noisy_chip(), out, die_id="d0", plan=PLAN)
    return out


def test_a_run_file_resumes_inside_re_measurement(tmp_path, monkeypatch, capsys):
    out = _stopped_after_round_one(tmp_path, monkeypatch)
    with h5py.File(out, "r") as f:
        before = f["remeasure/g_after_p"][()]
        selected = f["remeasure/selected"][()]
    result = run_characterization(_noisy_chip(), out, die_id="d0", plan=PLAN, resume=True)
    assert result.remeasured["replayed_rounds"] == 1
    run = load_characterization(out)
    assert run.remeasured["replayed_rounds"] == 1
    with h5py.File(out, "r") as f:
        after = f["remeasure/g_after_p"][()]
        np.testing.assert_array_equal(f["remeasure/selected"][()], selected)
    assert after.shape[1] == 2 * before.shape[1]
    np.testing.assert_array_equal(after[:, : before.shape[1]], before)
    assert main(["show", str(out)]) == 0
    assert "1 round kept from before the interruption" in " ".join(capsys.readouterr().out.split())


@pytest.mark.parametrize("damage", ["drop_stream", "short_stream", "garbage_selected"])
def test_a_damaged_record_is_measured_again_on_resume(tmp_path, monkeypatch, damage):
    out = _stopped_after_round_one(tmp_path, monkeypatch)
    # a kill between the record's writes, through the run file's own writer
    with RunFile.open(out, "a") as run:
        if damage == "drop_stream":
            run.delete("remeasure/g_after_ap")
        elif damage == "short_stream":
            data = run.read("remeasure/g_high_p")
            run.write("remeasure/g_high_p", data[:, :2], "S")
        else:
            run.write("remeasure/selected", np.arange(7), "1")
    result = run_characterization(_noisy_chip(), out, die_id="d0", plan=PLAN, resume=True)
    assert "replayed_rounds" not in result.remeasured
    run = load_characterization(out)
    assert run.codes is not None and len(run.remeasured["rounds"]) == 2
    with h5py.File(out, "r") as f:
        assert f["remeasure/g_after_p"].shape == f["remeasure/g_after_ap"].shape
        assert f["remeasure/selected"].shape[1:] == (25, 25)
