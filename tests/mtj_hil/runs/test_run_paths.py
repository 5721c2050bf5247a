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
