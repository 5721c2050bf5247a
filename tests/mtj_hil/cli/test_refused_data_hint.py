"""A run whose data the classifier refused is not sent round in a loop: show, export and a
second run named it unfinished and said to resume it, and a resume refuses the same data
again (the stored plan is the cause). They now say to measure again."""

from __future__ import annotations

import pytest

from mtj_hil.cli import main
from mtj_hil.runs.store.resume import finish_hint


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    return " ".join((captured.out + captured.err).split())


def test_a_refused_run_says_to_measure_again_everywhere(tmp_path, capsys):
    out = tmp_path / "floor.h5"
    args = ["characterize", "--arrays", "0", "--cycles", "1", "--no-report", "--out", str(out)]
    assert main([*args, "--read-voltage", "1e-6"]) == 5  # reads at the noise floor
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = _err(capsys)
    assert "a resume would refuse its data again" in shown and "--resume" not in shown
    assert main(["export", "--format", "netcdf", str(out)]) == 4
    assert "measure again with other settings into another --out" in _err(capsys)
    assert main([*args, "--read-voltage", "1e-6"]) == 4  # the same line again
    again = _err(capsys)
    assert "a run whose data were refused" in again and "--resume" not in again
    # a resume is still allowed (a later classifier may take the data): it refuses again
    assert main([*args, "--read-voltage", "1e-6", "--resume"]) == 5


def test_other_unfinished_runs_are_still_told_to_resume(tmp_path):
    attrs = {"status": "aborted", "status_reason": "stopped by SIGTERM", "kind": "switching"}
    assert finish_hint(attrs, tmp_path / "x.h5").startswith("finish it with: mtj-hil switching")
    failed = {"status": "failed", "status_reason": "ProtocolError: refusing to classify: x"}
    assert "measure again" in finish_hint(failed, tmp_path / "x.h5")
