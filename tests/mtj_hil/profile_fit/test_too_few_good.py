"""fit-profile of runs whose dies were not written (no GOOD device: a pulse too weak, say)
refuses in one line naming the count per run, instead of failing inside the fit; a fit
from fewer than MIN_GOOD_DEVICES GOOD devices says its law is rough."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import mtj_hil.profile_fit.runs as fit_runs
from mtj_hil.cli.main import main
from mtj_hil.profile_fit.fit import MIN_GOOD_DEVICES
from mtj_hil.protocols.defects.codes import DefectCode


@pytest.fixture
def run_with_good(tmp_path, monkeypatch):
    """A characterisation run file and a function that makes fit-profile see only ``n`` of
    its devices as GOOD."""
    run = tmp_path / "run.h5"
    assert main(["characterize", "--arrays", "0", "--out", str(run), "--no-report"]) == 0
    real = fit_runs.load_characterization

    def set_good(n: int) -> None:
        def loader(path):
            char = real(path)
            codes = np.full_like(char.codes, DefectCode.UNCERTAIN)
            codes.flat[:n] = DefectCode.GOOD
            return dataclasses.replace(char, codes=codes)

        monkeypatch.setattr(fit_runs, "load_characterization", loader)

    return run, set_good


def test_no_good_device_is_refused_naming_each_run(run_with_good, tmp_path, capsys):
    run, set_good = run_with_good
    set_good(0)
    capsys.readouterr()
    assert main(["fit-profile", str(run), "--out", str(tmp_path / "p.toml")]) == 5
    err = " ".join(capsys.readouterr().err.split())
    assert "the runs hold no GOOD device" in err and "run.h5: 0" in err
    assert not (tmp_path / "p.toml").exists()


def test_a_few_good_devices_fit_with_a_warning(run_with_good, tmp_path, capsys):
    run, set_good = run_with_good
    set_good(MIN_GOOD_DEVICES - 1)
    capsys.readouterr()
    assert main(["fit-profile", str(run), "--out", str(tmp_path / "p.toml")]) == 0
    said = " ".join(capsys.readouterr().err.split())
    assert f"the resistance law rests on {MIN_GOOD_DEVICES - 1} GOOD devices" in said
