"""Resuming a characterisation run file old enough that its layout records no nominal write
pulse: a pulse option cannot be compared with it, and the refusal says so (the file
predates it; drop the option) instead of calling the file damaged. Without the option the
old file still resumes."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import h5py
import pytest

from mtj_hil.cli.main import main

FIXTURE = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1"


@pytest.fixture
def old_run(tmp_path: Path) -> Path:
    """The 0.1 interrupted run with the nominal pulse taken out of its stored layout."""
    out = tmp_path / "old.h5"
    shutil.copy(FIXTURE / "characterization-interrupted.h5", out)
    with h5py.File(out, "r+") as h5:
        layout = json.loads(h5.attrs["layout"])
        del layout["nominal_pulse"]
        h5.attrs["layout"] = json.dumps(layout)
        assert json.loads(h5.attrs["plan"])["pulse"] is None
    return out


RESUME = ["characterize", "--profile", "passive-15x15", "--die", "3", "--resume", "--no-report"]


def test_a_pulse_option_on_an_old_file_is_refused_as_old_not_damaged(old_run, capsys):
    assert main([*RESUME, "--out", str(old_run), "--pulse-amplitude", "0.9"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "damaged" not in err
    assert (
        f"{old_run} was written before run files recorded the die's nominal write pulse "
        "(which this run writes with), so --pulse-amplitude 0.9 cannot be compared with the "
        "plan the run was started with. Drop it: --resume finishes the run with its stored "
        "plan" in err
    )
    with h5py.File(old_run, "r") as h5:
        assert h5.attrs["status"] == "aborted"  # untouched


def test_the_old_file_still_resumes_without_the_option(old_run):
    assert main([*RESUME, "--out", str(old_run)]) == 0
    with h5py.File(old_run, "r") as h5:
        assert h5.attrs["status"] == "completed"
