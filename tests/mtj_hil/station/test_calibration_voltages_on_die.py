"""A station's ``calibration.voltages`` are held to the die's read limit, the tighter of
``safety.max_read_voltage`` and the die profile's ``limits.max_read_voltage``, when the file
loads. Only the station's own limit was checked: ``station check`` passed a station whose
profile reads at most 0.2 V with calibration voltages up to 0.3 V, and ``calibrate`` then
opened the instruments and failed 'error (SafetyViolation): read voltage 0.3 V exceeds the
safe limit of 0.2 V' (exit 6), naming neither the file nor the key."""

from __future__ import annotations

from pathlib import Path

from mtj_hil.cli.main import main

ROOT = Path(__file__).resolve().parents[3]
STATION = ROOT / "stations" / "virtual-lab.toml"
PROFILE = ROOT / "mtj_hil" / "sim" / "profiles" / "1t1r-20k.toml"


def _station(tmp_path: Path, die_read: float) -> Path:
    """The virtual-lab station (calibration voltages up to 0.3 V) on a copy of 1t1r-20k
    whose limits.max_read_voltage is ``die_read`` (V)."""
    profile = PROFILE.read_text()
    assert "max_read_voltage = 0.3\n" in profile
    profile = profile.replace("max_read_voltage = 0.3\n", f"max_read_voltage = {die_read}\n")
    (tmp_path / "low-read.toml").write_text(profile.replace('name = "1t1r-20k"', 'name = "low"'))
    text = STATION.read_text()
    assert 'profile = "1t1r-20k"' in text and "voltages = [0.05, 0.15, 0.3]" in text
    path = tmp_path / "bench.toml"
    path.write_text(text.replace('profile = "1t1r-20k"', 'profile = "low-read.toml"'))
    return path


def test_station_check_refuses_calibration_voltages_above_the_die_read_limit(tmp_path, capsys):
    path = _station(tmp_path, 0.2)
    assert main(["station", "check", str(path)]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert (
        f"{path}: calibration.voltages = [0.05, 0.15, 0.3] is out of range; allowed: read "
        "voltages in (0, 0.2] V (the die's limits.max_read_voltage, profile low)" in err
    ), err


def test_calibrate_refuses_them_before_opening_the_station(tmp_path, capsys):
    path = _station(tmp_path, 0.2)
    assert main(["calibrate", "--station", str(path), "--no-thresholds"]) == 3
    assert "calibration.voltages" in capsys.readouterr().err
    assert not (tmp_path / "calibrations").exists()


def test_voltages_within_both_limits_still_load(tmp_path, capsys):
    assert main(["station", "check", str(_station(tmp_path, 0.3))]) == 0
