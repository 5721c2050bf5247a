"""Edges an adversarial pass found: outputs that are devices or folders, plan values that
measure nothing or cannot be what was asked, file values too large to use, a reference
resistor the board lacks."""

from __future__ import annotations

import dataclasses
import os
import tomllib
from pathlib import Path
from types import SimpleNamespace

import pytest

from mtj_hil.calibration.errors import CalibrationError
from mtj_hil.calibration.procedures import measure_smu_gain
from mtj_hil.calibration.records import ReferenceResistor
from mtj_hil.cli import main
from mtj_hil.cli.resume_plan import _shown
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


@pytest.mark.parametrize("typed", ["r.h5/", "r.h5/."])
def test_a_file_to_read_typed_with_a_slash_is_named_as_the_file_it_is(
    typed, run, monkeypatch, capsys
):
    # 'show r.h5/' said "give the file to write in it (e.g. r.h5/name)" of a run to read
    monkeypatch.chdir(run.parent)
    assert main(["show", typed]) == 2
    err = _err(capsys)
    assert f"but r.h5 is a file: drop the {typed[4:]!r}" in err
    assert "to write" not in err


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


@pytest.mark.parametrize(
    ("args", "wanted"),
    [
        (["export", "--format", "csv", "{station}"], "campaign file"),
        (["campaign", "status", "{station}"], "campaign file"),
        (["characterize", "--profile", "{station}", "--arrays", "0"], "die profile"),
        (["characterize", "--station", "{profile}", "--arrays", "0"], "station file"),
    ],
)
def test_a_file_of_another_kind_is_named_as_what_it_is(args, wanted, tmp_path, capsys):
    profile = PROFILE_DIR / "1t1r-20k.toml"
    line = [a.format(station=STATION, profile=profile) for a in args]
    assert main([*line, "--out", str(tmp_path / "x.h5")] if "--arrays" in args else line) == 3
    err = _err(capsys)
    assert f", not a {wanted}" in err and "is a " in err


@pytest.mark.parametrize("volts", ["1e-320", "1e-9"])
def test_a_read_voltage_below_a_microvolt_is_refused(volts, tmp_path, capsys):
    out = tmp_path / "x.h5"
    assert main(["characterize", "--arrays", "0", "--read-voltage", volts, "--out", str(out)]) == 5
    err = _err(capsys)
    assert "below 1e-06 V" in err and "RuntimeWarning" not in err
    assert not out.exists()


def test_a_switching_plan_reads_between_a_microvolt_and_the_die_limit():
    from mtj_hil.protocols.errors import SettingOutsideLimits, SettingRefused
    from mtj_hil.protocols.switching.procedure import SwitchingPlan, check_plan
    from mtj_hil.sim import SimulatedChip

    layout = SimulatedChip.from_lot("1t1r-20k", 0, 0).layout
    plan = SwitchingPlan(arrays=(0,), amplitudes=(0.9,), widths=(1e-7,))
    check_plan(layout, plan)
    with pytest.raises(SettingRefused, match="below 1e-06 V"):
        check_plan(layout, dataclasses.replace(plan, read_voltage=1e-9))
    # above the die's limit: refused with the plan, before anything is applied
    with pytest.raises(SettingOutsideLimits, match="largest read voltage of the safety envelope"):
        check_plan(layout, dataclasses.replace(plan, read_voltage=0.5))
    check_plan(layout, dataclasses.replace(plan, read_voltage=layout.limits.max_read_voltage))


def test_a_visa_library_that_cannot_load_is_a_station_file_error_before_any_instrument(
    tmp_path, capsys
):
    from mtj_hil.station.connect import open_station
    from mtj_hil.station.write import station_text

    data = tomllib.loads(STATION.read_text())
    del data["calibration"]
    data["station"]["visa_library"] = str(tmp_path / "no-such-libvisa.so")
    data["controller"]["url"] = "socket://127.0.0.1:9"  # nobody listens: opening it would fail
    data["smu"]["sense"]["resource"] = "TCPIP::127.0.0.1::9::SOCKET"
    path = tmp_path / "lib.toml"
    path.write_text(station_text(data, "lib"))
    with pytest.raises(ConfigError, match="station.visa_library"), open_station(path):
        pass
    assert main(["station", "check", str(path)]) == 3
    err = _err(capsys)
    assert "station.visa_library" in err and "controller" not in err


@pytest.mark.parametrize(
    ("driver", "changes", "key"),
    [
        ("keithley2400", {"nplc": 50.0}, "smu.sense.nplc"),
        ("keithley2450", {"nplc": 0.001}, "smu.sense.nplc"),
        ("keithley2400", {"compliance": 2.0}, "smu.sense.compliance"),
        ("keithley2400", {"current_range": 2.0}, "smu.sense.current_range"),
        ("keithley2600", {"nplc": 30.0}, "smu.sense.nplc"),
    ],
)
def test_a_setting_beyond_the_smu_model_is_refused_at_load(driver, changes, key):
    """The schema's bounds are the widest model's (B2900): a 2400 asked for 50 NPLC or 2 A
    refused it with -222 mid-configure, after the board and the SMU were reset."""
    data = tomllib.loads(STATION.read_text())
    data["safety"]["compliance_current"] = 2.0
    data["smu"]["sense"].update(driver=driver, **changes)
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        station_from_dict(data, STATION)
    data["smu"]["sense"]["driver"] = "keysight_b2900"  # the same values suit a B2900
    if changes.get("nplc", 1.0) <= 100 and changes.get("nplc", 1.0) >= 4e-4:
        station_from_dict(data, STATION)
