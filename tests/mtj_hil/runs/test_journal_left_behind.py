"""A killed run's file moved to another folder without its journal (``<run>.parts/``): the
resume goes on (nothing is lost: the journal-only arrays are measured again), but says so
in one line, naming the folder left behind and where to move it to keep those arrays."""

from __future__ import annotations

import shutil
import warnings
from pathlib import Path

import h5py
import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store import RunFile
from mtj_hil.sim import SimulatedChip
from mtj_hil.testing.write_faults import write_faults

ARGS = ["characterize", "--arrays", "0-2", "--cycles", "1", "--remeasure-cycles", "0",
        "--no-report"]  # fmt: skip


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def killed(tmp_path) -> Path:
    """A characterisation whose disk filled as it was to be written whole at its end: the
    file as first written (status running) and its three arrays in its journal only, as a
    kill would leave them."""
    folder = tmp_path / "was"
    folder.mkdir()
    with write_faults(folder) as faults:
        assert main([*ARGS, "--out", str(folder / "ref.h5")]) == 0
    whole = [
        i for i, p in enumerate(faults.points, 1) if p.startswith("open") and "/.ref.h5.tmp-" in p
    ]
    out = folder / "run.h5"
    with write_faults(folder, whole[-1], "ENOSPC"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*ARGS, "--out", str(out)]) == 4
    for tmp in [*folder.glob(".*.tmp-*"), *folder.glob("run.h5.parts/.*.tmp-*")]:
        tmp.unlink()  # a new process would remove them (the pid that left them is gone)
    with RunFile.open(out) as run:
        assert list(run.read("characterization/array_index")) == [0, 1, 2]
    assert h5py.File(out, "r").attrs["status"] == "running"  # the file alone: none of them
    return out


@pytest.fixture
def measured(monkeypatch) -> list[int]:
    seen: list[int] = []
    original = SimulatedChip.program

    def program(self, array, *args, **kwargs):
        if array not in seen:
            seen.append(int(array))
        return original(self, array, *args, **kwargs)

    monkeypatch.setattr(SimulatedChip, "program", program)
    return seen


def _resume(path: Path, capsys) -> str:
    assert main([*ARGS, "--out", str(path), "--resume"]) == 0
    return _squash(capsys.readouterr().err)


def test_the_file_records_its_journal_folder(killed):
    with RunFile.open(killed) as run:
        assert run.attrs["journal_folder"] == str(killed.with_name("run.h5.parts"))


def test_a_file_moved_without_its_journal_warns_and_measures_those_arrays_again(
    killed, tmp_path, capsys, measured
):
    run = killed
    moved = tmp_path / "elsewhere" / "run.h5"
    moved.parent.mkdir()
    run.rename(moved)
    err = _resume(moved, capsys)
    left, here = run.with_name("run.h5.parts"), moved.with_name("run.h5.parts")
    assert err.count("warning") == 1, err
    assert f"{moved} was moved from {run} without its journal" in err
    assert f"{left} holds 7 committed part(s) of this run (arrays 0, 1, 2)" in err
    assert "those arrays 0, 1, 2 will be measured again" in err
    assert f"move or copy {left} to {here}" in err
    assert sorted(measured) == [0, 1, 2]  # nothing lost, but measured again
    with RunFile.open(moved) as done:
        assert done.status == "completed"


def test_a_file_moved_with_its_journal_resumes_without_a_word(killed, tmp_path, capsys, measured):
    run = killed
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    run.rename(moved / "run.h5")
    run.with_name("run.h5.parts").rename(moved / "run.h5.parts")
    err = _resume(moved / "run.h5", capsys)
    assert "warning" not in err and "journal" not in err, err
    assert measured == []


def test_a_file_moved_whose_journal_is_gone_says_what_may_be_measured_again(
    killed, tmp_path, capsys, measured
):
    run = killed
    moved = tmp_path / "elsewhere" / "run.h5"
    moved.parent.mkdir()
    run.rename(moved)
    shutil.rmtree(run.with_name("run.h5.parts"))
    err = _resume(moved, capsys)
    assert err.count("warning") == 1, err
    assert f"{moved} was written as {run} by a session that did not end" in err
    assert "those arrays will be measured again" in err
    assert f"move that folder to {moved.with_name('run.h5.parts')}" in err
    assert sorted(measured) == [0, 1, 2]


def test_a_resume_in_place_says_nothing(killed, tmp_path, capsys, measured):
    run = killed
    err = _resume(run, capsys)
    assert "without its journal" not in err and "did not end" not in err, err
    assert measured == []
