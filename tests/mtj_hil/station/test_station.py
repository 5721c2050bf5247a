"""Station files: every mistake is one ConfigError naming file, key and what is allowed,
raised before any instrument is opened."""

from __future__ import annotations

import copy

import pytest

from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.station.files import load_station, station_from_dict

from .conftest import STATION


def test_shipped_station_files_load():
    station = load_station(STATION)
    assert station.virtual_lab.die == 7
    assert station.smu("sense").driver == "keithley2400"
    example = load_station(STATION.with_name("example-bench.toml"))
    assert example.controller.url == "/dev/ttyACM0"
    assert example.virtual_lab is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            lambda d: d["smu"]["sense"].update(driver="keithley9999"),
            "smu.sense.driver = 'keithley9999' is not allowed; allowed: keithley2400",
        ),
        (
            lambda d: d["smu"]["sense"].update(resource="GPIB::banana"),
            "smu.sense.resource = 'GPIB::banana' is not a VISA resource string",
        ),
        (
            lambda d: d["controller"].update(url="http://example"),
            "controller.url = 'http://example' is not a serial port",
        ),
        (lambda d: d["safety"].pop("max_pulse_amplitude"), "safety.max_pulse_amplitude is missing"),
        (
            lambda d: d["safety"].update(max_pulse_amplitude=1.4),
            "safety.max_pulse_amplitude = 1.4 V reaches the die's breakdown (1.35 V",
        ),
        (
            lambda d: d["safety"].update(voltage_max=3),
            "safety.voltage_max is not a key of [safety]",
        ),
        (
            lambda d: d["smu"]["sense"].update(compliance=0.1),
            "smu.sense.compliance = 0.1 A exceeds safety.compliance_current",
        ),
        (lambda d: d["die"].update(profile="nope"), "die.profile is not usable: unknown profile"),
        (lambda d: d["station"].update(line_frequency=55), "station.line_frequency = 55"),
        (lambda d: d.pop("virtual_lab"), "[virtual_lab] is missing but an address is 'virtual'"),
        (  # one array measured twice counted its devices as twice as many samples
            lambda d: d["calibration"].update(threshold_arrays=[1, 1]),
            "calibration.threshold_arrays holds 1 twice",
        ),
        (lambda d: d["calibration"].update(rows=[0, 7, 0]), "calibration.rows holds 0 twice"),
        (
            lambda d: d["calibration"].update(voltages=[0.05, 0.1, 0.05]),
            "calibration.voltages holds 0.05 twice",
        ),
    ],
)
def test_bad_station_is_refused_before_anything_opens(station_dict, change, message, mocker):
    opened = mocker.patch("mtj_hil.station.chip.ChipController")
    data = copy.deepcopy(station_dict)
    change(data)
    with pytest.raises(ConfigError) as exc:
        station_from_dict(data, STATION)
    assert message in str(exc.value)
    assert str(STATION) in str(exc.value)
    opened.assert_not_called()


def test_cli_reports_a_bad_station_in_one_line(tmp_path, capsys):
    bad = tmp_path / "bench.toml"
    bad.write_text(STATION.read_text().replace('driver = "keithley2400"', 'driver = "hp4156"'))
    assert main(["characterize", "--station", str(bad), "--out", str(tmp_path / "r.h5")]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "driver = 'hp4156' is not allowed" in err
    assert not (tmp_path / "r.h5").exists()


@pytest.mark.slow
def test_characterize_through_the_virtual_lab_from_the_command_line(tmp_path, capsys):
    out = tmp_path / "lab.h5"
    code = main(
        [
            "characterize",
            "--station",
            str(STATION),
            "--arrays",
            "0",
            "--cycles",
            "1",
            "--out",
            str(out),
            "--no-report",
        ]
    )
    assert code == 0
    assert "modelled lab time" in capsys.readouterr().err
    from mtj_hil.runs.store import load_characterization

    char = load_characterization(out)
    assert char.attrs["die_id"] == "sim:1t1r-20k:lot0:die7"
    assert char.attrs["station"]["backend"] == "instruments"


def test_a_relative_profile_path_is_taken_from_the_station_files_folder(tmp_path, monkeypatch):
    """``[die] profile = "dies/mine.toml"`` is found next to the station file whatever the
    working directory; a shipped name still loads the shipped profile."""
    import tomllib

    from mtj_hil.sim.profile import PROFILE_DIR

    bench = tmp_path / "bench"
    (bench / "dies").mkdir(parents=True)
    text = (PROFILE_DIR / "1t1r-20k.toml").read_text()
    mine = text.replace('name = "1t1r-20k"', 'name = "my-die"', 1)
    assert mine != text
    (bench / "dies" / "mine.toml").write_text(mine)
    data = tomllib.loads(STATION.read_text())
    data["die"]["profile"] = "dies/mine.toml"
    (bench / "station.toml").write_text(
        STATION.read_text().replace('"1t1r-20k"', '"dies/mine.toml"', 1)
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)  # the working directory holds no dies/ folder
    assert load_station(bench / "station.toml").profile.name == "my-die"
    assert station_from_dict(data, bench / "station.toml").profile.name == "my-die"
    with pytest.raises(ConfigError, match=r"die\.profile is not usable: .*bench/nope\.toml"):
        station_from_dict(
            {**data, "die": {**data["die"], "profile": "nope.toml"}}, bench / "s.toml"
        )
    data["die"]["profile"] = "1t1r-20k"
    assert station_from_dict(data, bench / "station.toml").profile.name == "1t1r-20k"
