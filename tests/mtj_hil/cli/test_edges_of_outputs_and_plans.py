"""Edges an adversarial pass found: outputs that are devices or folders, plan values that
measure nothing or cannot be what was asked, file values too large to use, a reference
resistor the board lacks."""

from __future__ import annotations

import os
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from mtj_hil.calibration.errors import CalibrationError
from mtj_hil.calibration.procedures import measure_smu_gain
from mtj_hil.calibration.records import ReferenceResistor
from mtj_hil.cli import main
from mtj_hil.cli.common import _shown
from mtj_hil.errors import ConfigError
from mtj_hil.sim.profile import PROFILE_DIR, profile_from_dict
from mtj_hil.station.files import station_from_dict

ROOT = Path(__file__).resolve().parents[3]
STATION = ROOT / "stations" / "virtual-lab.toml"


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "r.h5"
    args = ["characterize", "--arrays", "0", "--cycles", "1", "--no-report", "--out", str(out)]
    assert main(args) == 0
    return out


@pytest.mark.parametrize(
    "args",
    [
        ["export", "--format", "netcdf", "{run}", "--out", "{fifo}", "--force"],
        ["export", "--format", "nexus", "{run}", "--out", "{fifo}", "--force"],
        ["fit-profile", "{run}", "-o", "{fifo}", "--force"],
    ],
    ids=["netcdf", "nexus", "fit-profile"],
)
def test_force_never_replaces_a_device_or_a_pipe(args, run, tmp_path, capsys):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    assert main([a.format(run=run, fifo=fifo) for a in args]) == 4
    assert "not a regular file" in _err(capsys)
    assert fifo.is_fifo()  # still the pipe it was


@pytest.mark.parametrize("command", [["characterize", "--arrays", "0"], ["fit-profile", "x.h5"]])
def test_a_file_option_ending_in_a_slash_is_refused(command, tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    option = "-o" if command[0] == "fit-profile" else "--out"
    assert main([*command, option, "newdir/"]) == 2
    assert "names a folder" in _err(capsys)
    assert list(tmp_path.iterdir()) == []


def test_a_loop_device_on_an_array_not_measured_is_refused(tmp_path, capsys):
    out = tmp_path / "s.h5"
    args = ["switching", "--arrays", "0", "--loop-devices", "31:24:24", "--out", str(out)]
    assert main(args) == 5
    assert "31:24:24 is on array 31, which the plan does not measure" in _err(capsys)
    assert not out.exists()


def test_a_bias_voltage_equal_to_the_read_voltage_is_refused(tmp_path, capsys):
    out = tmp_path / "c.h5"
    args = ["characterize", "--arrays", "0", "--read-voltage", "0.1", "--bias-voltage", "0.1"]
    assert main([*args, "--out", str(out)]) == 5
    assert "the bias signature compares reads at two voltages" in _err(capsys)
    assert not out.exists()


def test_stored_loop_devices_are_shown_as_the_option_takes_them():
    assert _shown([[0, 1, 2], [3, 4, 5]]) == "0:1:2,3:4:5"
    assert _shown([]) == "(none)" and _shown([1e-7, 1e-6]) == "1e-07,1e-06"


def test_a_calibration_validity_beyond_a_century_is_refused_at_load():
    data = tomllib.loads(STATION.read_text())
    data["station"]["calibration_validity_days"] = 1e9  # "never expires" overflowed a date
    with pytest.raises(ConfigError, match="calibration_validity_days"):
        station_from_dict(data, STATION)


@pytest.mark.parametrize(
    ("key", "value"), [("die_spread", 1e300), ("line_open_rate", 1e19), ("line_short_rate", 1e19)]
)
def test_defect_values_too_large_to_draw_are_refused_at_load(key, value):
    data = tomllib.loads((PROFILE_DIR / "1t1r-20k.toml").read_text())
    data["defects"][key] = value  # an OverflowError or ValueError (exit 1) when drawn
    with pytest.raises(ConfigError, match=key):
        profile_from_dict(data)


class _Untouchable:
    """An SMU no call may reach."""

    def __getattr__(self, name: str):
        raise AssertionError(f"the SMU was used ({name}) before the references were checked")


def test_a_reference_the_board_lacks_is_refused_before_the_smu_is_touched():
    board = SimpleNamespace(identity=SimpleNamespace(references=3))
    refs = [
        ReferenceResistor("r1k", 0, 1e3, 1e-3),
        ReferenceResistor("r10k", 99, 1e4, 1e-3),
    ]
    offset = SimpleNamespace(value=0.0, sigma=0.0)
    with pytest.raises(
        CalibrationError, match=r"r10k .*index = 99\) is not on the board: .* 0\.\.2"
    ):
        measure_smu_gain(board, _Untouchable(), refs, offset)
