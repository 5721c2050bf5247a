"""Options that only mean something beside another option are refused (exit 2, one line
naming the option and its value) when that other option rules them out, instead of being
ignored silently: --die-id with --no-thresholds (calibrate), --group with a run file
(export)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.cli.calibration import calibrate_chip
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"


def test_calibrate_refuses_a_die_label_it_would_record_nowhere(tmp_path, capsys, monkeypatch):
    def no_station(*args, **kwargs):
        raise AssertionError("opened the station despite the usage error")

    monkeypatch.setattr("mtj_hil.station.connect.open_station", no_station)
    args = ["calibrate", "--station", str(STATION), "--no-thresholds", "--die-id", "W3-D17"]
    assert main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "Error: --die-id W3-D17 labels the die's defect thresholds, which --no-thresholds " in err
    )
    # the library function refuses the same before touching the chip
    with pytest.raises(ConfigError, match="--die-id W3-D17 labels the die's defect thresholds"):
        calibrate_chip(object(), die_id="W3-D17", thresholds=False)  # type: ignore[arg-type]


def test_export_refuses_a_group_beside_a_run_file(tmp_path, capsys):
    run = tmp_path / "run.h5"
    assert main(["characterize", "--die", "1", "--arrays", "0", "--cycles", "1",
                 "--remeasure-cycles", "0", "--no-report", "--out", str(run)]) == 0  # fmt: skip
    capsys.readouterr()
    assert main(["export", str(run), "--format", "netcdf", "--group", "lot"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"Error: --group lot picks a task group of a campaign file (.toml); {run} is a run" in err
    )
    assert not run.with_suffix(".nc").exists()
    assert main(["export", str(run), "--format", "netcdf"]) == 0
    assert run.with_suffix(".nc").exists()
