"""A calibration record is applied only where it can be true: one converter entry per output
line of the die on the station, gains above 0, values in the units they are applied in,
thresholds in their order (short > state > open), and a date not in the future. Before, a
record of a 25-line die crashed every read of a 15-line one (exit 1), a one-entry gain was
applied to every line, ``series_resistance`` in kohm was applied as ohm, and a record dated
next year beat the calibration made today, for ever."""

from __future__ import annotations

import re
import shutil
import tomllib
import warnings
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from mtj_hil.calibration import (
    CalibrationError,
    CalibrationWarning,
    list_records,
    read_record,
    select_record,
)
from mtj_hil.calibration.errors import RecordFileError
from mtj_hil.protocols import conductance_map
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

ROOT = Path(__file__).parents[2]
STATION = ROOT / "stations" / "virtual-lab.toml"
RECORDS = ROOT / "tests" / "fixtures" / "legacy-0.1" / "stations" / "calibrations" / "virtual-lab"
RECORD = next(RECORDS.glob("*.toml"), None)
pytestmark = pytest.mark.skipif(RECORD is None, reason="the fixture calibration record is absent")


def _record_text(created: datetime | None = None, **swaps: tuple[str, str]) -> str:
    """The fixture record's text, dated ``created``, with regex swaps ``pattern -> text``."""
    text = RECORD.read_text()
    if created is not None:
        stamp = created.strftime("%Y%m%dT%H%M%S%fZ")
        text = re.sub(r"^id = .*$", f'id = "virtual-lab-{stamp}"', text, flags=re.M)
        text = re.sub(r"^created = .*$", f"created = {created.isoformat()}", text, flags=re.M)
    for pattern, replacement in swaps.values():
        text, n = re.subn(pattern, replacement, text, count=1, flags=re.M)
        assert n == 1, pattern
    return text


def _write(folder: Path, text: str) -> Path:
    record_id = tomllib.loads(text)["id"]
    path = folder / f"{record_id}.toml"
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("swap", "said"),
    [
        ((r"^gain = \[1\.0073\d*", "gain = [0.0"), "converter.gain holds 0.0"),
        ((r'unit = "ohm"\}', 'unit = "kohm"}'), "smu.series_resistance is in 'kohm'"),
        ((r"^gain = \{value = 1\.00\d*", "gain = {value = -1.0"), "smu.gain is -1.0"),
        ((r"^state_g = .*$", "state_g = 1.0"), "short_g .* > state_g .* > open_g"),
        # values the procedure itself refuses as faults (calibration/limits.py)
        (
            (r"^series_resistance = \{value = 17\.\d*", "series_resistance = {value = -50.0"),
            "smu.series_resistance is -50.0; allowed: -5 to 1000 ohm",
        ),
        ((r"^gain = \{value = 1\.00\d*", "gain = {value = 1.5"), "smu.gain is 1.5; allowed"),
        (
            (r"^offset = \{value = 4\.99\d*e-08", "offset = {value = 4.996e-03"),
            "smu.offset is 0.004996; allowed: -1e-06 to 1e-06 A",
        ),
        ((r"uncertainty = 0\.00066\d*", "uncertainty = -0.1"), "smu.gain is .* -0.1; allowed"),
        ((r"^gain = \[1\.0073\d*", "gain = [1.9"), "converter.gain holds 1.9; allowed"),
        (
            (r"^gain_uncertainty = \[0\.0010\d*", "gain_uncertainty = [-0.001"),
            "converter.gain_uncertainty holds -0.001",
        ),
        ((r'offset = "A"', 'offset = "uA"'), "converter.units gives offset in 'uA'"),
        ((r'full_scale = "A"', 'full_scale = "A", noise = "A"'), "converter.units names 'noise'"),
    ],
    ids=[
        "converter-gain-0",
        "series-in-kohm",
        "smu-gain-negative",
        "thresholds-out-of-order",
        "series-negative",
        "smu-gain-far-from-1",
        "smu-offset-1mA",
        "uncertainty-negative",
        "converter-gain-far-from-1",
        "converter-uncertainty-negative",
        "converter-offset-in-uA",
        "converter-unit-unknown",
    ],
)
def test_a_record_that_cannot_be_applied_as_written_is_refused(tmp_path, swap, said):
    path = _write(tmp_path, _record_text(swap=swap))
    with pytest.raises(RecordFileError, match=said):
        read_record(path)
    assert read_record(RECORD)  # the record as written reads


def test_a_record_dated_in_the_future_is_passed_over_for_the_one_made_now(tmp_path):
    now = datetime.now(UTC)
    record = read_record(RECORD)
    _write(tmp_path, _record_text(now + timedelta(days=365)))
    _write(tmp_path, _record_text(now - timedelta(hours=1)))
    with pytest.warns(CalibrationWarning, match="days in the future"):
        chosen = select_record(tmp_path, "virtual-lab", record.instruments, timedelta(days=30))
    assert chosen.record is not None and chosen.record.created < now
    with pytest.raises(CalibrationError, match="in the future"):
        select_record(tmp_path, "virtual-lab", record.instruments, timedelta(days=30), strict=True)


def test_a_converter_calibration_of_another_geometry_is_never_applied(tmp_path):
    # the station calibrated on a 25 x 25 die, then given a 15 x 15 one
    now = datetime.now(UTC)
    records = tmp_path / "calibrations"
    records.mkdir()
    _write(records, _record_text(now - timedelta(hours=1)))
    data = tomllib.loads(STATION.read_text())
    data["die"]["profile"] = "passive-15x15"
    data["calibration"]["dir"] = str(records)
    data["calibration"]["rows"] = [0, 7, 14]
    shutil.copy(STATION, tmp_path / "st.toml")
    station = station_from_dict(data, tmp_path / "st.toml")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with open_station(station) as chip:
            g = conductance_map(chip, 0, 0.1)  # a ValueError (exit 1) before
            assert chip.correction is None and not chip.calibration["valid"]
    assert g.shape == (1, 15, 15)
    text = " ".join(str(w.message) for w in caught)
    assert "covers 25 output lines; the die has 15" in text


def test_a_renamed_copy_in_the_calibration_folder_is_skipped_by_name(tmp_path):
    # a backup copy beside its original would be a second record of one calibration
    text = _record_text(datetime.now(UTC) - timedelta(hours=1))
    original = _write(tmp_path, text)
    copy = tmp_path / "backup.toml"
    copy.write_text(text)
    with pytest.warns(CalibrationWarning, match="named 'backup.toml'; a record is named after"):
        records = list_records(tmp_path)
    assert [r.path for r in records] == [original]
    assert read_record(copy).id == read_record(original).id  # shown anywhere, as a file


@pytest.mark.parametrize(
    ("swap", "said"),
    [
        (
            (r"^offset = \[-5\.85\d*e-07", "offset = [5e-05"),
            "converter.offset holds 5e-05; allowed: offsets from -5e-06 to 5e-06 A (on "
            "full_scale 0.0001 A",
        ),
        (
            (r"^full_scale = 0\.0001$", "full_scale = 1e308"),
            "converter.full_scale = 1e+308 is not allowed; allowed: 1e-05, 0.0001, 0.001, 0.01",
        ),
        (
            (r"^short_g = .*$", "short_g = 1e308"),
            "thresholds.short_g = 1e+308 is out of range; allowed: a number in (0, 1] S",
        ),
    ],
    ids=["converter-offset-half-range", "full-scale-huge", "short-g-huge"],
)
def test_calibration_show_refuses_a_hand_edit_the_procedure_would_refuse(
    tmp_path, capsys, swap, said
):
    from mtj_hil.cli.main import main

    path = _write(tmp_path, _record_text(swap=swap))
    assert main(["calibration", "show", str(path)]) == 3
    err = " ".join(capsys.readouterr().err.split())
    assert f"{path}: {said}" in err, err
