"""An output path that cannot hold a run is refused before anything is measured, by what is
wrong with it: a parent that is a file used to read "File exists (EEXIST)", and a name too
long for the names written beside the run was blamed on the writer lease."""

from __future__ import annotations

import os

import h5py
import pytest

from mtj_hil.cli import main
from mtj_hil.errors import StoreError
from mtj_hil.runs.store.runfile import RunFile

ARGS = ["characterize", "--profile", "passive-15x15", "--arrays", "0", "--no-report"]


def _most(folder) -> int:
    """The longest run file name (bytes) the refusal allows in ``folder``."""
    with pytest.raises(StoreError, match=r"so at most (\d+)") as caught:
        RunFile.create(folder / ("x" * 300), "characterization", die_id="d")
    return int(caught.value.args[0].rsplit("at most ", 1)[1].split()[0])


def test_a_parent_that_is_a_file_is_named(tmp_path, capsys):
    (tmp_path / "notes").write_text("a file, not a folder")
    out = tmp_path / "notes" / "deeper" / "run.h5"
    assert main([*ARGS, "--out", str(out)]) == 4
    err = capsys.readouterr().err
    assert f"{tmp_path / 'notes'} is a file, not a folder" in err
    assert "File exists" not in err
    assert (tmp_path / "notes").read_text() == "a file, not a folder"


def test_a_name_too_long_for_the_run_s_companions_is_refused_up_front(tmp_path, capsys):
    most = _most(tmp_path)
    assert most < os.pathconf(tmp_path, "PC_NAME_MAX")
    name = "r" * (most - 2) + "h5"
    too_long = "r" * (most - 1) + ".h5"
    assert main([*ARGS, "--out", str(tmp_path / too_long)]) == 4
    err = capsys.readouterr().err
    assert f"has {most + 2} bytes" in err and f"at most {most}" in err
    assert "lease" not in err
    assert sorted(os.listdir(tmp_path)) == []  # nothing left behind
    # the longest allowed name is a run that can be written, set aside and resumed whole
    assert main([*ARGS, "--out", str(tmp_path / name)]) == 0
    with h5py.File(tmp_path / name, "r") as f:
        assert f.attrs["status"] == "completed"
    run = RunFile.open(tmp_path / name, "a")  # takes the lease: its temporary name fits
    run.close()


def test_a_path_too_long_for_the_run_s_journal_is_refused_up_front(tmp_path, capsys, monkeypatch):
    # a run file near PATH_MAX was made, then its first journal part could not be written
    # ('<run>.parts/.00000001.h5.tmp-...' is longer): a run left behind that no --resume
    # could finish, failing the same way every time
    monkeypatch.chdir(tmp_path)
    folder = os.path.join(*["d" * 250] * 16)  # relative: 4015 bytes
    os.makedirs(folder)
    path_max = os.pathconf(".", "PC_PATH_MAX")
    with pytest.raises(StoreError, match=r"the path has \d+ bytes.* so at most (\d+)") as caught:
        RunFile.create(os.path.join(folder, "x" * 70), "characterization", die_id="d")
    most = int(caught.value.args[0].rsplit("at most ", 1)[1].split()[0])
    assert len(folder) + 10 < most < path_max - 1
    fits = os.path.join(folder, "r" * (most - len(folder) - 4) + ".h5")
    assert len(fits) == most
    assert main([*ARGS, "--out", fits + "x"]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert f"the path has {most + 1} bytes" in err and f"so at most {most}" in err
    assert os.listdir(folder) == []  # nothing left behind
    # the longest allowed path is a run whose journal is written and folded in whole
    assert main([*ARGS, "--cycles", "3", "--out", fits]) == 0
    with h5py.File(fits, "r") as f:
        assert f.attrs["status"] == "completed"
    assert os.listdir(folder) == [os.path.basename(fits)]
