"""An SMU reset or power-cycled between two phases of a calibration: nothing is recorded
and its output is not switched back on at power-on settings. Before, the next phase found
the output off, switched it on unchecked, took its readings at the power-on settings and the
record was written (exit 0)."""

from __future__ import annotations

import tomllib
import warnings
from pathlib import Path

import pytest

import mtj_hil.cli.calibration as cal_cli
import mtj_hil.sim.lab.lab as lab_module
from mtj_hil.calibration.errors import CalibrationWarning
from mtj_hil.calibration.record_files import list_records
from mtj_hil.cli.main import main
from mtj_hil.instruments.errors import InstrumentStateLost
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict
from mtj_hil.station.write import station_text

STATION = Path(__file__).parents[2] / "stations" / "virtual-lab.toml"


@pytest.mark.parametrize("fault", ["power_cycle", "front_panel_reset"])
def test_a_lost_smu_between_phases_stops_the_calibration_unrecorded(tmp_path, monkeypatch, fault):
    data = tomllib.loads(STATION.read_text())
    data["calibration"]["dir"] = str(tmp_path)
    station = station_from_dict(data, STATION)
    real = cal_cli.calibrate_converters
    seen = {}

    def converters_after_a_fault(controller, smu, *args, **kwargs):
        lab_smu = seen["lab"].smu
        getattr(lab_smu, fault)()
        seen["on_after"] = lambda: [a.output for a in lab_smu.history[seen["mark"] :]]
        seen["mark"] = len(lab_smu.history)
        return real(controller, smu, *args, **kwargs)

    monkeypatch.setattr(cal_cli, "calibrate_converters", converters_after_a_fault)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        with open_station(station, apply_calibration=False) as chip:
            seen["lab"] = chip.lab
            with pytest.raises(InstrumentStateLost, match="left its known state"):
                cal_cli.calibrate_station(chip, thresholds=False)
            assert not any(seen["on_after"]())  # never switched on after the fault
    assert list_records(tmp_path) == []


def test_a_calibration_folder_that_is_a_file_is_refused_when_the_station_loads(tmp_path):
    """``calibration.dir`` naming a file passed ``station check``; ``calibrate`` measured
    the whole calibration, then failed to write the record (exit 8)."""
    from mtj_hil.errors import ConfigError

    data = tomllib.loads(STATION.read_text())
    afile = tmp_path / "afile"
    afile.write_text("")
    data["calibration"]["dir"] = str(afile)
    with pytest.raises(ConfigError, match=r"calibration\.dir = .* is a file"):
        station_from_dict(data, STATION)


def test_a_calibration_folder_that_cannot_be_written_is_refused_before_measuring(
    tmp_path, capsys, monkeypatch
):
    """``calibration.dir = "/proc/x"`` loaded, ``calibrate`` measured everything and then
    failed to write the record (exit 8). It is now refused first (exit 4)."""
    import mtj_hil.station.connect as connect
    from mtj_hil.cli import main

    opened = []
    monkeypatch.setattr(connect, "open_station", lambda *a, **k: opened.append(a))
    data = STATION.read_text().replace('"calibrations/virtual-lab"', '"/proc/mtj-hil-records"')
    assert "/proc/mtj-hil-records" in data
    station = tmp_path / "station.toml"
    station.write_text(data)
    assert main(["calibrate", "--station", str(station), "--no-thresholds"]) == 4
    said = " ".join(capsys.readouterr().err.split())
    assert "calibration.dir /proc/mtj-hil-records cannot be made or written" in said
    assert opened == []  # nothing measured


@pytest.mark.parametrize("driver", ["keithley2400", "keithley2600"])
def test_an_smu_reset_during_a_sweep_is_an_instrument_fault(tmp_path, monkeypatch, driver):
    """A reset in the middle of the SMU's own sweeps exited 8 (calibration failed), where a
    reset at any other point of the calibration exits 7 (instrument): the sweep wrapped the
    state loss in a CalibrationError."""
    made = []
    real = lab_module.make_virtual_smu

    def resetting(*args, **kwargs):
        smu = real(*args, **kwargs)
        smu.event_after(120, "reset")  # within the offset sweep
        made.append(smu)
        return smu

    monkeypatch.setattr(lab_module, "make_virtual_smu", resetting)
    text = STATION.read_text().replace('driver = "keithley2400"', f'driver = "{driver}"')
    data = tomllib.loads(text)
    data["calibration"]["dir"] = str(tmp_path / "records")
    station = tmp_path / "station.toml"
    station.write_text(station_text(data, "test station"))
    assert main(["calibrate", "--station", str(station), "--no-thresholds"]) == 7
    assert not any(s.output for s in made)
    assert list_records(tmp_path / "records") == []
