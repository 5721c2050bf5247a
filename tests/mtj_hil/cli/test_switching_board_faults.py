"""``mtj-hil switching --station`` on the virtual lab whose board fails in the middle of a
sequence run (firmware 1.3): it resets itself, loses the link, or is aborted. The command
stops with the run file resumable and the bench safe; ``--resume`` measures again only the
array that was cut short, and the finished file holds each array once, as an uninterrupted
run records it."""

from __future__ import annotations

import re
from pathlib import Path

import h5py
import numpy as np
import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store.switching import load_switching
from mtj_hil.sim.lab.lab import VirtualLab
from mtj_hil.sim.profile import shipped_profile_path

pytestmark = pytest.mark.slow

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"
PLAN = ["--arrays", "0,1", "--widths", "1e-6", "--amplitudes", "0.6,0.7", "--trials", "2"]
PLAN += ["--probe-trials", "1", "--floor-trials", "0", "--disturb-reads", "0", "--no-report"]
CUT_AT_RUN = 9
"""The SEQ RUN the fault hits: array 0 takes 6 runs (on the virtual lab's firmware 1.4
board, whose decisions use a threshold map), so this is array 1's third."""


def _watch_labs(monkeypatch, fault: str | None = None, step: int = 1) -> dict:
    """Every virtual lab from here on counts its sequence runs in ``seen["runs"]`` (and is
    kept in ``seen["lab"]``); with ``fault``, the board field of that name is set to
    ``step`` when run :data:`CUT_AT_RUN` starts."""
    seen: dict = {"runs": 0, "lab": None}
    real_init = VirtualLab.__init__

    def init(self, *args, **kwargs):
        real_init(self, *args, **kwargs)
        seen["lab"] = self
        board = self.board
        real_run = board._seq_run

        def run():
            seen["runs"] += 1
            if fault is not None and seen["runs"] == CUT_AT_RUN:
                setattr(board.faults, fault, step)
            return real_run()

        board._seq_run = run

    monkeypatch.setattr(VirtualLab, "__init__", init)
    return seen


@pytest.fixture(scope="module")
def args(tmp_path_factory) -> list[str]:
    """The command line of the runs: the virtual lab (uncalibrated) on a die of two arrays
    of 6 x 6 cells; the board runs the same sequences whatever the arrays' size, each at a
    fraction of the bytes and readings."""
    folder = tmp_path_factory.mktemp("station")
    profile = shipped_profile_path("1t1r-20k").read_text()
    for key, value in (("n_arrays", 2), ("rows", 6), ("cols", 6)):
        profile, n = re.subn(rf"(?m)^{key} = \d+", f"{key} = {value}", profile)
        assert n == 1, key
    (folder / "small-die.toml").write_text(profile)
    station = STATION.read_text().split("\n[calibration]")[0]
    assert 'profile = "1t1r-20k"' in station and "[calibration" not in station
    station = station.replace('profile = "1t1r-20k"', 'profile = "small-die.toml"')
    (folder / "station.toml").write_text(station)
    return ["switching", "--station", str(folder / "station.toml"), *PLAN]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory, args):
    out = tmp_path_factory.mktemp("clean") / "clean.h5"
    with pytest.MonkeyPatch.context() as mp:
        seen = _watch_labs(mp)
        assert main([*args, "--out", str(out)]) == 0
    assert seen["runs"] > CUT_AT_RUN
    return load_switching(out)


@pytest.mark.parametrize(
    ("fault", "said"),
    [
        ("reset_run_at_step", "the board reset itself during SEQ RUN"),
        ("drop_run_at_step", "port error during SEQ"),
        ("abort_run_at_step", "E10"),
    ],
)
def test_a_board_failing_mid_sequence_is_seen_and_the_run_resumes_without_repeats(
    tmp_path, capsys, monkeypatch, args, uninterrupted, fault, said
):
    out = tmp_path / "sw.h5"
    seen = _watch_labs(monkeypatch, fault)
    assert main([*args, "--out", str(out)]) != 0
    err = " ".join(capsys.readouterr().err.split())
    assert said in err and "--resume" in err and "Traceback" not in err
    lab = seen["lab"]
    state = lab.board._state  # the bench was left safe: lines off, SMU output off
    assert state.route == "OFF" and not state.rows.any() and not state.vread.any()
    assert not lab.smu.output
    cut = load_switching(out)
    assert not cut.complete and sorted(cut.data) == [0]  # array 1 was not half-stored

    seen = _watch_labs(monkeypatch)
    assert main([*args, "--out", str(out), "--resume"]) == 0
    # array 1 alone is measured again: the runs of an uninterrupted array 1
    assert seen["runs"] == 6
    run = load_switching(out)
    assert run.complete and sorted(run.data) == [0, 1]
    for a in (0, 1):
        got, want = run.data[a], uninterrupted.data[a]
        np.testing.assert_array_equal(got.trials, want.trials)
        np.testing.assert_array_equal(got.switched, want.switched)
    with h5py.File(out, "r") as h5:  # no rows left over from the array cut short
        assert list(h5["switching/array_index"][()]) == [0, 1]
        assert h5["switching/trials"].shape[0] == sum(len(d.trials) for d in run.data.values())
