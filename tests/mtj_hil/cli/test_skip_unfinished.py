"""fit-profile and training skip failed or unfinished runs with one line listing them,
instead of stopping on the first one."""

from __future__ import annotations

import shutil

import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store import RunFile


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    for die in (1, 2):
        out = folder / f"die{die}.h5"
        args = ["characterize", "--die", str(die), "--arrays", "0-1", "--cycles", "2"]
        assert main([*args, "--out", str(out), "--no-report"]) == 0
    failed = folder / "failed.h5"
    shutil.copy(folder / "die2.h5", failed)
    with RunFile.open(failed, "a") as run:
        run.set_status("failed", "InvalidRequest: read voltage 5 V lies outside")
    return folder


def test_fit_profile_skips_a_failed_run_with_one_line(runs, tmp_path, capsys):
    files = [runs / "die1.h5", runs / "failed.h5"]
    assert main(["fit-profile", *map(str, files), "-o", str(tmp_path / "p.toml")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert "skipped 1 unfinished run (" in err
    assert f"{runs / 'failed.h5'} (failed: InvalidRequest: read voltage 5 V" in err
    assert (tmp_path / "p.toml").exists()


def test_fit_profile_with_only_failed_runs_says_so(runs, tmp_path, capsys):
    assert main(["fit-profile", str(runs / "failed.h5"), "-o", str(tmp_path / "p.toml")]) == 4
    assert "no finished run among the 1 given" in capsys.readouterr().err


def test_training_skips_a_failed_population_run(runs, tmp_path, capsys, monkeypatch):
    seen = {}

    def fake_train(spec):
        seen["files"] = list(spec.characterization)
        return {"ok": True}

    monkeypatch.setattr("mtj_hil.experiments.single.train_network", fake_train)
    files = [runs / "die1.h5", runs / "failed.h5", runs / "die2.h5"]
    args = ["train", "--method", "statistics-aware", "--die", "1", "--out", str(tmp_path / "n.h5")]
    for f in files:
        args += ["--characterization", str(f)]
    assert main(args) == 0
    assert seen["files"] == [runs / "die1.h5", runs / "die2.h5"]
    err = " ".join(capsys.readouterr().err.split())
    assert "skipped 1 unfinished run (" in err and "failed.h5 (failed" in err
