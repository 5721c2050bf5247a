"""Options that only mean something beside another option are refused (exit 2, one line
naming the option and its value) when that other option rules them out, instead of being
ignored silently: --die-id with --no-thresholds or a station measuring no thresholds
(calibrate), --group with a run file (export)."""

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
    # an empty label recorded the thresholds against die "" (they matched no die)
    assert main(["calibrate", "--station", str(STATION), "--die-id", " "]) == 2
    assert "--die-id ' ' names no die" in " ".join(capsys.readouterr().err.split())


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


def no_threshold_station(tmp_path: Path) -> Path:
    """The virtual-lab station with ``[calibration] threshold_arrays = []``."""
    text = STATION.read_text()
    assert "\nthreshold_arrays = [0, 1]" in text
    path = tmp_path / "no-thresholds.toml"
    path.write_text(text.replace("\nthreshold_arrays = [0, 1]", "\nthreshold_arrays = []"))
    return path


def test_calibrate_refuses_a_die_label_a_station_without_threshold_arrays_records_nowhere(
    tmp_path, capsys, monkeypatch
):
    from types import SimpleNamespace

    from mtj_hil.station.files import load_station

    station = no_threshold_station(tmp_path)

    def no_station(*args, **kwargs):
        raise AssertionError("opened the station despite the usage error")

    monkeypatch.setattr("mtj_hil.station.connect.open_station", no_station)
    assert main(["calibrate", "--station", str(station), "--die-id", "W3-D17"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Error: --die-id W3-D17 labels the die's defect thresholds, but " in err
    assert "[calibration] threshold_arrays = [] measures none" in err
    # the library function refuses the same before touching the instruments
    chip = SimpleNamespace(station=load_station(station))
    with pytest.raises(ConfigError, match="threshold_arrays = \\[\\] measures none"):
        calibrate_chip(chip, die_id="W3-D17")  # type: ignore[arg-type]


def test_calibrate_without_threshold_arrays_needs_no_die_label_on_a_real_station(
    tmp_path, monkeypatch
):
    from dataclasses import replace

    from mtj_hil.station.files import load_station

    station = no_threshold_station(tmp_path)
    real = replace(load_station(station), virtual_lab=None)
    monkeypatch.setattr("mtj_hil.cli.calibration.load_station", lambda path: real)

    opened = []

    def open_station(*args, **kwargs):
        opened.append(args)
        raise ConfigError("no bench here")

    monkeypatch.setattr("mtj_hil.station.connect.open_station", open_station)
    # no usage error: no thresholds are measured, so no die label is needed
    assert main(["calibrate", "--station", str(station)]) == 3
    assert opened


REAL = STATION.with_name("example-bench.toml")


@pytest.mark.parametrize("command", ["switching", "characterize"])
@pytest.mark.parametrize(
    ("station", "option", "named"),
    [
        (STATION, ["--profile", "passive-15x15"], "--profile passive-15x15 chooses a simulated"),
        (STATION, ["--lot-seed", "3"], "--lot-seed 3 chooses a simulated die"),
        (REAL, ["--die", "3"], "--die 3 chooses a simulated die"),
    ],
)
def test_a_station_refuses_the_simulated_die_options_it_would_ignore(
    command, station, option, named, tmp_path, capsys, monkeypatch
):
    """With --station the station file names the die: --profile and --lot-seed (and --die
    on a real station) would be ignored, so they are refused before anything is opened."""

    def no_station(*args, **kwargs):
        raise AssertionError("opened the station despite the usage error")

    monkeypatch.setattr("mtj_hil.station.connect.open_station", no_station)
    out = tmp_path / "run.h5"
    label = ["--die-id", "W1"] if station == REAL else []  # a real die needs its label
    args = [command, "--station", str(station), *option, *label, "--out", str(out)]
    assert main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"Error: {named}" in err and "drop " + option[0] in err
    assert not out.exists()


def test_a_virtual_lab_station_takes_another_die_of_its_lot():
    import click
    from click.core import ParameterSource

    from mtj_hil.cli.common import choose_die
    from mtj_hil.cli.main import cli

    ctx = click.Context(cli.commands["switching"])
    for name in ("die_index", "station"):
        ctx.set_parameter_source(name, ParameterSource.COMMANDLINE)
    with ctx:
        source = choose_die("1t1r-20k", 0, 3, STATION, None)
    assert source.station.virtual_lab.die == 3 and source.die_id.endswith("die3")
