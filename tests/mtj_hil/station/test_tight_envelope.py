"""A station whose ``[safety]`` refuses what the commands use by default (the die's nominal
write pulse, the default read voltage): ``station check`` says so before any run, and
``calibrate`` refuses the defect thresholds before it spends time on the read path."""

from __future__ import annotations

from pathlib import Path

import mtj_hil.cli.calibration as calibration_cli
from mtj_hil.cli.main import main
from mtj_hil.station.envelope import envelope_notes
from mtj_hil.station.files import load_station

STATIONS = Path(__file__).resolve().parents[3] / "stations"


def test_shipped_stations_allow_the_defaults():
    for path in sorted(STATIONS.glob("*.toml")):
        assert envelope_notes(load_station(path)) == [], path.name


def test_notes_name_the_nominal_pulse_and_the_read_voltage(tight_station):
    notes = envelope_notes(load_station(tight_station(read=0.05, pulse=0.5)))
    assert len(notes) == 2
    assert notes[0].startswith("the die's nominal write pulse (1 V,")
    assert "(0.1..0.5 V," in notes[0] and "--pulse-amplitude" in notes[0]
    assert "default read voltage 0.1 V is above the envelope's 0.05 V" in notes[1]
    assert envelope_notes(load_station(tight_station(read=0.2, pulse=1.2))) == []


def test_station_check_prints_the_notes(tight_station, capsys):
    assert main(["station", "check", str(tight_station())]) == 0
    out = capsys.readouterr().out
    assert "note: the die's nominal write pulse" in " ".join(out.split())


def test_calibrate_refuses_thresholds_before_the_read_path(tight_station, monkeypatch, capsys):
    station = tight_station()

    def read_path_started(*args, **kwargs):
        raise AssertionError("the read path was calibrated before the refusal")

    monkeypatch.setattr(calibration_cli, "measure_smu_offset", read_path_started)
    assert main(["calibrate", "--station", str(station)]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert "the defect thresholds cannot be measured" in err and "--no-thresholds" in err
    assert not (station.parent / "cal").exists() or not any((station.parent / "cal").iterdir())
