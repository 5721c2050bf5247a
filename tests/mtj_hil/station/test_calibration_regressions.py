"""Calibrations that worked before this stop's stricter checks and must still work (found by
an attack on the checks themselves): a 2450's sweep, the smallest converter range, an old
record with a repeated threshold array, and a station's profile path without ``.toml``."""

from __future__ import annotations

import shutil
from pathlib import Path

from mtj_hil.calibration.record_files import read_record
from mtj_hil.cli.main import main
from mtj_hil.station.files import load_station

from .test_cli_station import _calibrating, _virtual, _write

LEGACY = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1"


def _calibration_station(tmp_path: Path, **changes: object) -> tuple[str, Path]:
    cal = tmp_path / "cal"
    return _calibrating(tmp_path, cal, **changes), cal


def test_a_2450_calibration_is_not_taken_for_a_level_changed_by_someone_else(tmp_path, capsys):
    """The 2450's list sweep leaves its source at the last point (the 2400's goes back to
    fixed mode): the mid-run level check then said "source level found at 0.3 V where the
    run set 0 V" and every 2450 calibration exited 7."""
    cal = tmp_path / "cal"
    station = _calibrating(tmp_path, cal, _virtual(driver="keithley2450"))
    assert main(["calibrate", "--station", station, "--no-thresholds"]) == 0, capsys.readouterr()
    assert len(list(cal.glob("*.toml"))) == 1


def test_the_smallest_converter_range_calibrates_and_its_record_loads(tmp_path, capsys):
    """5 % of the 1e-5 A range (0.5 uA) refused sound lines whose offsets (0.3 uA sigma) do
    not scale with the range: the calibration exited 8, and such a record made before was
    refused and skipped."""
    station, cal = _calibration_station(tmp_path, full_scale=1e-5, voltages=[0.02, 0.05, 0.1])
    assert main(["calibrate", "--station", station, "--no-thresholds"]) == 0, capsys.readouterr()
    (record,) = cal.glob("*.toml")
    assert read_record(record).converter is not None


def test_an_old_record_with_a_repeated_threshold_array_still_opens(tmp_path):
    """Records made before the station refused ``threshold_arrays = [0, 0]`` hold the array
    twice; refusing the key dropped the whole record, its read-path correction too."""
    old = next((LEGACY / "stations" / "calibrations").rglob("*.toml"))
    copy = tmp_path / old.name
    copy.write_text(old.read_text().replace("arrays = [0, 1]", "arrays = [0, 0]"))
    assert read_record(copy).thresholds is not None


def test_a_profile_path_without_a_lowercase_toml_suffix_is_found_beside_the_station(tmp_path):
    shipped = Path(__file__).resolve().parents[3] / "mtj_hil" / "sim" / "profiles"
    (tmp_path / "sub").mkdir()
    shutil.copyfile(shipped / "1t1r-20k.toml", tmp_path / "sub" / "custom.TOML")
    shutil.copyfile(shipped / "1t1r-20k.toml", tmp_path / "custom-die")
    for value in ("sub/custom.TOML", "custom-die"):
        data = _virtual()
        data["die"]["profile"] = value
        station = load_station(_write(tmp_path, data))
        assert station.profile.name == "1t1r-20k", value


def test_a_converter_line_with_an_implausible_offset_is_refused_by_the_procedure(
    tmp_path, capsys, monkeypatch
):
    """The procedure refuses what the record reader would refuse (one bound for both): a
    line reading 20 uA with nothing on it, on the 1e-4 A range (bound 5 uA)."""
    import mtj_hil.sim.lab.lab as lab_module

    class OffsetLine(lab_module.VirtualBoard):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            self.converter_offset[0] = 2e-5

    monkeypatch.setattr(lab_module, "VirtualBoard", OffsetLine)
    station, cal = _calibration_station(tmp_path)
    assert main(["calibrate", "--station", station, "--no-thresholds"]) == 8
    err = " ".join(capsys.readouterr().err.split())
    assert "converter of output line 0 has an implausible offset 2e-05 A" in err, err
    assert "more than 5e-06 A on its 0.0001 A range" in err, err
    assert not list(cal.glob("*.toml"))
