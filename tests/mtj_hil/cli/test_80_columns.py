"""Every table readable at 80 columns (pipes, CI logs): no id or number cut with an
ellipsis, no table wider than the terminal; ids and numbers printed whole."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store import RunFile

LEGACY = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1"
BOX = set("│┃┏┓┗┛┡┩└┘├┤┼━─┳┻╇")


@pytest.fixture(scope="module")
def made(tmp_path_factory):
    folder = tmp_path_factory.mktemp("cols")
    char = folder / "char.h5"
    assert main(["characterize", "--die", "5", "--arrays", "0-1", "--cycles", "2",
                 "--out", str(char), "--no-report"]) == 0  # fmt: skip
    sw = folder / "sw.h5"
    assert main(["switching", "--arrays", "0", "--widths", "1e-8,1e-7", "--trials", "2",
                 "--disturb-reads", "10", "--out", str(sw), "--no-report"]) == 0  # fmt: skip
    shutil.copytree(LEGACY / "stations", folder / "stations")
    shutil.copytree(LEGACY / "campaigns" / "tiny-lot", folder / "tiny-lot")
    return folder


def _at_80(monkeypatch, capsys, args: list[str], code: int = 0) -> str:
    monkeypatch.setenv("COLUMNS", "80")
    capsys.readouterr()
    assert main(args) == code, args
    captured = capsys.readouterr()
    text = captured.out + captured.err
    assert "…" not in text, text
    wide = [line for line in text.splitlines() if BOX & set(line) and len(line) > 80]
    assert not wide, "\n".join(wide)
    return text


def _run_id(path: Path) -> str:
    with RunFile.open(path) as run:
        return str(run.attrs["run_id"])


def test_characterisation_and_show(made, monkeypatch, capsys):
    char = made / "char.h5"
    text = _at_80(monkeypatch, capsys, ["show", str(char)])
    assert _run_id(char) in text and "sim:1t1r-20k:lot0:die5" in text
    assert "R_AP (ohm)" in text and "spread (sigma/median)" in text


def test_switching_show(made, monkeypatch, capsys):
    text = _at_80(monkeypatch, capsys, ["show", str(made / "sw.h5")])
    assert "WER floor (90 %)" in text and "to AP" in text and "to P" in text


def test_fit_profile(made, monkeypatch, capsys, tmp_path):
    args = [
        "fit-profile",
        str(made / "char.h5"),
        str(made / "sw.h5"),
        "-o",
        str(tmp_path / "p.toml"),
    ]
    text = _at_80(monkeypatch, capsys, args)
    assert "resistance.r_p_median" in text and "switching.write_error_floor" in text


def test_profiles(monkeypatch, capsys):
    text = _at_80(monkeypatch, capsys, ["profiles"])
    assert all(len(line) <= 80 for line in text.splitlines() if "%" in line)


def test_calibration_list_and_show_print_ids_whole(made, monkeypatch, capsys):
    station = made / "stations" / "virtual-lab.toml"
    record = next((made / "stations" / "calibrations").rglob("*.toml"))
    text = _at_80(monkeypatch, capsys, ["calibration", "list", "--station", str(station)])
    assert record.stem in text.split()  # the id whole, as 'calibration show' takes it
    text = _at_80(monkeypatch, capsys,
                  ["calibration", "show", record.stem, "--station", str(station)])  # fmt: skip
    assert record.stem in text


def test_campaign_status_and_report(made, monkeypatch, capsys):
    campaign = made / "tiny-lot" / "tiny-lot.toml"
    text = _at_80(monkeypatch, capsys, ["campaign", "status", str(campaign)])
    assert "characterize" in text
    text = _at_80(monkeypatch, capsys, ["campaign", "report", str(campaign)])
    assert "sim:passive-15x15:lot0:die0" in text or "die0" in text


def test_station_check(monkeypatch, capsys):
    station = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"
    text = _at_80(monkeypatch, capsys, ["station", "check", str(station)])
    assert "smu.sense.compliance = 0.001" in text


@pytest.mark.parametrize("columns", ["30", "44"])
def test_a_narrow_terminal_keeps_every_id_of_the_header_on_one_line(
    made, monkeypatch, capsys, columns
):
    """At 30 columns the key/value header folded the run id, die id and git revision across
    lines, so an id copied from the output was wrong; narrower than its longest word, the
    header is printed one ``key: value`` line per row, each whole."""
    char = made / "char.h5"
    monkeypatch.setenv("COLUMNS", columns)
    capsys.readouterr()
    assert main(["show", str(char)]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert f"run_id: {_run_id(char)}" in lines
    assert "die_id: sim:1t1r-20k:lot0:die5" in lines
    assert "kind: characterization" in lines
    monkeypatch.setenv("COLUMNS", "120")
    assert main(["show", str(char)]) == 0
    wide = capsys.readouterr().out
    assert f"run_id: {_run_id(char)}" not in wide and _run_id(char) in wide  # columns
