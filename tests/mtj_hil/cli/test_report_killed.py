"""A command killed outright (SIGKILL) while drawing its PNG report, after the run was
written whole: no half-drawn image is left as if it were the report, so ``--resume`` draws
it (measuring nothing) and tidies up the temporary the killed process left."""

from __future__ import annotations

import os
import signal
import warnings

import matplotlib.figure
import matplotlib.image
import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store import RunFile
from mtj_hil.sim.chip import SimulatedChip
from mtj_hil.testing.crash import in_child

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")

ARGS = [
    "characterize", "--profile", "passive-15x15", "--arrays", "0", "--cycles", "1",
    "--remeasure-cycles", "0",
]  # fmt: skip


def test_report_killed_half_written_is_drawn_again_by_resume(tmp_path, monkeypatch, capsys):
    out = tmp_path / "run.h5"
    args = [*ARGS, "--out", str(out)]

    def body(report) -> int:
        def savefig(self, fname, *a, **kw):  # dies with half an image written
            with open(fname, "wb") as fh:
                fh.write(b"\x89PNG\r\n\x1a\n" + b"\0" * 100)
                fh.flush()
                os.kill(os.getpid(), signal.SIGKILL)

        monkeypatch.setattr(matplotlib.figure.Figure, "savefig", savefig)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            main(args)
        return 0

    child = in_child(body, tmp_path / "child.log", timeout=120)
    assert child.code == -signal.SIGKILL
    with RunFile.open(out) as run:
        assert run.status == "completed"
    assert not out.with_suffix(".png").exists()  # the half image is not the report
    programmed = []
    original = SimulatedChip.program
    monkeypatch.setattr(
        SimulatedChip,
        "program",
        lambda self, *a, **k: programmed.append(1) or original(self, *a, **k),
    )
    capsys.readouterr()
    assert main([*args, "--resume"]) == 0
    assert "drawing its missing report" in " ".join(capsys.readouterr().err.split())
    assert programmed == []  # nothing measured again
    image = matplotlib.image.imread(out.with_suffix(".png"))
    assert image.shape[0] > 100 and image.shape[1] > 100  # a whole image
    assert sorted(p.name for p in tmp_path.iterdir()) == ["child.log", "run.h5", "run.png"]


def test_a_folder_where_the_report_goes_is_named_and_resume_draws_it_once_gone(
    tmp_path, capsys, monkeypatch
):
    # the error named the temporary '.run.png.tmp-<host>-<pid>-<hex>.png' and offered no
    # way to draw the report: the run refused as 'already exists, a completed run'
    monkeypatch.setenv("COLUMNS", "500")
    out = tmp_path / "run.h5"
    (tmp_path / "run.png").mkdir()
    args = [*ARGS, "--out", str(out)]
    assert main(args) == 4
    said = capsys.readouterr().err
    assert f"cannot use {tmp_path / 'run.png'}: Is a directory; draw its missing report " in said
    assert ".tmp-" not in said
    assert said.rstrip().endswith(f"--out {out} --resume")
    (tmp_path / "run.png").rmdir()
    assert main([*args, "--resume"]) == 0
    assert (tmp_path / "run.png").is_file()
