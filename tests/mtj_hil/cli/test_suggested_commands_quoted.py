"""The commands a message suggests can be copied into a shell as printed: a file name with a
space or a ";" is quoted (it used to split in two, or run a second command), and a plain
path prints exactly as before."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store.write_errors import second_writer


def _out(capsys) -> str:
    captured = capsys.readouterr()
    return captured.out + captured.err


@pytest.fixture
def wide(monkeypatch):
    monkeypatch.setenv("COLUMNS", "500")


def test_examples_show_and_campaign_quote_odd_names(tmp_path, capsys, monkeypatch, wide):
    monkeypatch.chdir(tmp_path)
    assert main(["examples", "my lab;x"]) == 0
    station = "'my lab;x/stations/virtual-lab.toml'"
    assert _out(capsys).splitlines()[-1] == (
        f"next: mtj-hil station check {station}; mtj-hil characterize --station {station}"
    )
    assert main(["show", "my lab;x/stations/virtual-lab.toml"]) == 0
    assert f"check it (settings, instruments): mtj-hil station check {station}\n" in _out(capsys)
    campaign = "my lab;x/campaigns/example-lot.toml"
    assert main(["show", campaign]) == 0
    assert f"progress: mtj-hil campaign status '{campaign}'\n" in _out(capsys)
    assert main(["campaign", "report", campaign]) == 4
    assert _out(capsys).endswith(f"run it first (mtj-hil campaign run '{campaign}')\n")


def test_plain_paths_print_as_before(tmp_path, capsys, monkeypatch, wide):
    monkeypatch.chdir(tmp_path)
    assert main(["examples", "lab"]) == 0
    assert _out(capsys).splitlines()[-1] == (
        "next: mtj-hil station check lab/stations/virtual-lab.toml; "
        "mtj-hil characterize --station lab/stations/virtual-lab.toml"
    )


def test_resuming_a_completed_run_quotes_its_show_command(tmp_path, capsys, wide):
    run = tmp_path / "my run;x.h5"
    args = ["characterize", "--arrays", "0", "--cycles", "1", "--no-report", "--out", str(run)]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--resume"]) == 4
    assert f"(see it with: mtj-hil show '{run}'; measure again" in _out(capsys)


def test_a_second_writer_names_the_quoted_show_command():
    error = second_writer(Path("runs/my run.h5"), FileExistsError(17, "exists", "part-3"))
    assert str(error).endswith("then check it with: mtj-hil show --verify 'runs/my run.h5'")


def _suggested(said: str, after: str) -> list[str]:
    """The words bash reads from the command printed after ``after`` (up to ``;``)."""
    import subprocess

    line = said.split(after, 1)[1].split(";", 1)[0]
    shown = subprocess.run(
        ["bash", "-c", f"printf '%s\\0' {line}"], capture_output=True, text=True, check=True
    )
    return shown.stdout.split("\0")[:-1]


@pytest.mark.parametrize("name", ["-run.h5", "new\nline.h5", "a\ttab.h5"])
def test_a_suggested_command_pastes_whole_for_a_leading_dash_or_a_line_break(
    name, tmp_path, capsys, monkeypatch, wide
):
    # 'mtj-hil show -run.h5' read the name as options (No such option '-r'); a name with a
    # line break printed the break as a space in the one-line error, naming another file
    monkeypatch.chdir(tmp_path)
    args = ["characterize", "--arrays", "0", "--cycles", "1", "--no-report", "--out", name]
    assert main(args) == 0
    capsys.readouterr()
    assert main([*args, "--resume"]) == 4
    said = _out(capsys)
    assert said.count("\n") == 1  # one line
    words = _suggested(said, "(see it with: ")
    assert words[:2] == ["mtj-hil", "show"]
    assert Path(words[2]) == Path(name)
    assert main(words[1:]) == 0


def test_a_station_without_calibrations_names_the_command_that_makes_one(
    tmp_path, capsys, monkeypatch, wide
):
    # it said "run 'mtj-hil calibrate --station FILE'": a placeholder, not the station
    monkeypatch.chdir(tmp_path)
    assert main(["examples", "my lab;x"]) == 0
    station = "my lab;x/stations/virtual-lab.toml"
    capsys.readouterr()
    assert main(["calibration", "list", "--station", station]) == 0
    said = _out(capsys)
    assert f"make one with: mtj-hil calibrate --station '{station}'\n" in said


def test_a_measurement_without_calibrations_names_the_command_that_makes_one(tmp_path):
    """The warning of a measurement on an uncalibrated station (and the refusal with
    ``strict``) said ``measure one with 'mtj-hil calibrate --station FILE'``."""
    import warnings
    from datetime import timedelta

    from mtj_hil.calibration.errors import CalibrationError, CalibrationWarning
    from mtj_hil.calibration.record_files import select_record

    station = tmp_path / "my lab;x.toml"
    again = f"mtj-hil calibrate --station '{station}'"
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", CalibrationWarning)
        select_record(tmp_path, "lab", {}, timedelta(days=1), station_file=station)
    assert [str(w.message).endswith(f"measure one with: {again}") for w in caught] == [True]
    with pytest.raises(CalibrationError, match=r"\(measure one with: mtj-hil calibrate "):
        select_record(tmp_path, "lab", {}, timedelta(days=1), station_file=station, strict=True)


@pytest.mark.parametrize(
    "command", [["export", "--format", "netcdf"], ["fit-profile", "-o", "p.toml"]]
)
def test_a_campaign_index_given_as_a_run_names_its_campaign_file(
    tmp_path, capsys, monkeypatch, wide, command
):
    """``export runs/campaign.h5`` said 'is an HDF5 file but not an mtj-hil run file': the
    file is the tool's own, and the command that exports its results takes the campaign
    file, which the index knows."""
    from mtj_hil.campaigns.index import CampaignIndex

    spec = tmp_path / "my lot $x.toml"
    index = tmp_path / "out" / "campaign.h5"
    index.parent.mkdir()
    CampaignIndex(index).ensure("lot", spec, "", [])
    monkeypatch.chdir(tmp_path)
    assert main([command[0], str(index), *command[1:]]) == 4
    said = _out(capsys).strip()
    assert said.startswith(f"error (StoreError): {index} is the index of campaign 'lot', not")
    words = _suggested(said[:-1], "(export its results with: ")
    assert words == ["mtj-hil", "export", str(spec), "--format", "netcdf"]
