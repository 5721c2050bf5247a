"""Resuming an interrupted run file somewhere else than where it was started: through another
bench, for another die, from a copy or a new name, while another process resumes it.

One run file holds one die measured through one measurement chain: a resume through another
bench (the in-process simulator vs a station, or another station) is refused before the file
is touched, naming both and the command that finishes it; so is another die. A copied or
renamed file resumes like the original.
"""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store import RunFile
from mtj_hil.testing.write_faults import write_faults

ROOT = Path(__file__).resolve().parents[3]
ARGS = ["characterize", "--arrays", "0-1", "--cycles", "1", "--remeasure-cycles", "0",
        "--no-report"]  # fmt: skip


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture(scope="module")
def interrupted(tmp_path_factory):
    """A characterisation of die 0 (simulated) stopped by SIGTERM after its first array."""
    folder = tmp_path_factory.mktemp("cut")
    out = folder / "run.h5"
    with write_faults(folder) as faults:
        assert main([*ARGS, "--out", str(folder / "ref.h5")]) == 0
    # the first write after the first array's journal part: the run is one array in
    k = 1 + next(i for i, p in enumerate(faults.points, 1) if ".parts/." in p and "link" in p)
    with write_faults(folder, k, "SIGTERM"):
        assert main([*ARGS, "--out", str(out)]) == 143
    with RunFile.open(out) as run:
        assert run.status == "aborted"
    return out


@pytest.fixture
def cut(interrupted, tmp_path):
    """A fresh copy of the interrupted run file."""
    out = tmp_path / "run.h5"
    shutil.copy(interrupted, out)
    return out


def _untouched(path: Path) -> None:
    with RunFile.open(path) as run:
        assert run.status == "aborted" and run.attrs["resumed"] == []


def test_resume_through_a_station_of_a_run_begun_on_the_simulator_is_refused(cut, capsys):
    station = ROOT / "stations" / "virtual-lab.toml"  # serves die 0 of lot 0: the same die id
    code = main([*ARGS, "--station", str(station), "--die", "0", "--out", str(cut), "--resume"])
    assert code == 4
    err = _squash(capsys.readouterr().err)
    assert f"{cut} was started on the in-process simulator, not station 'virtual-lab'" in err
    assert "--resume" in err.rpartition("resume it on")[2]
    _untouched(cut)


def test_resume_for_another_die_is_refused_saying_how_to_finish_it(cut, capsys):
    assert main([*ARGS, "--die", "3", "--out", str(cut), "--resume"]) == 4
    err = _squash(capsys.readouterr().err)
    assert f"{cut} is a run of die 'sim:1t1r-20k:lot0:die0', not 'sim:1t1r-20k:lot0:die3'" in err
    assert "resume it with the options that measure that die" in err
    _untouched(cut)


def test_a_copied_or_renamed_run_file_resumes_like_the_original(interrupted, tmp_path):
    moved = tmp_path / "elsewhere" / "renamed.h5"
    moved.parent.mkdir()
    shutil.copy(interrupted, moved)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*ARGS, "--out", str(moved), "--resume"]) == 0
    with RunFile.open(moved) as run:
        assert run.status == "completed"
    _untouched(interrupted)  # the copy's resume left the original alone


def test_a_second_resume_while_one_runs_is_refused_naming_the_writer(cut, capsys):
    with RunFile.open(cut, "a"):  # another writer holds the file (its lease)
        assert main([*ARGS, "--out", str(cut), "--resume"]) == 4
    err = _squash(capsys.readouterr().err)
    assert f"{cut} is being written by process" in err and "wait for it to end" in err
    assert "Traceback" not in err
    _untouched(cut)


def test_a_die_label_given_to_a_simulated_die_is_refused_not_ignored(cut, capsys):
    # --die-id labels a station's die; on the simulator it was dropped silently, so a resume
    # "of die FOO" finished the simulated die's run without a word
    assert main([*ARGS, "--die-id", "FOO", "--out", str(cut), "--resume"]) == 2
    err = _squash(capsys.readouterr().err)
    assert "--die-id FOO labels a die on a --station" in err and "drop --die-id" in err
    _untouched(cut)


def test_resume_with_another_profile_of_the_same_name_is_refused(cut, tmp_path, capsys):
    # the die id is the profile's name, lot seed and index: a profile file edited since (or
    # another one giving the same name) made the same id for another die, and the resume
    # finished the run on it, mixing two dies' arrays
    source = ROOT / "mtj_hil" / "sim" / "profiles" / "1t1r-20k.toml"
    edited = tmp_path / "1t1r-20k.toml"
    text = source.read_text()
    line = next(t for t in text.splitlines() if t.startswith("r_ap_median = "))
    value = float(line.split("=")[1].split("#")[0])
    edited.write_text(text.replace(line, f"r_ap_median = {1.2 * value}"))
    assert main([*ARGS, "--profile", str(edited), "--out", str(cut), "--resume"]) == 4
    err = _squash(capsys.readouterr().err)
    assert "was started on a simulated die of profile '1t1r-20k' with other values" in err
    assert "r_ap_median" in err and "that is another die" in err
    _untouched(cut)
    assert main([*ARGS, "--profile", str(source), "--out", str(cut), "--resume"]) == 0
