"""Calibration procedures, records and their application, on the virtual lab."""

from __future__ import annotations

import copy
import tomllib
import warnings
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.calibration import (
    CalibrationError,
    CalibrationRecord,
    CalibrationWarning,
    ReadPathCorrection,
    calibrate_converters,
    list_records,
    read_record,
    select_record,
    write_record,
)
from mtj_hil.cli.calibration import calibrate_chip, calibrate_station
from mtj_hil.errors import ConfigError
from mtj_hil.protocols import conductance_map
from mtj_hil.protocols.read import DEFAULT_READ_VOLTAGE
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

STATION = Path(__file__).parents[2] / "stations" / "virtual-lab.toml"


def _station(directory: Path, **changes):
    data = tomllib.loads(STATION.read_text())
    data["calibration"]["dir"] = str(directory)
    for key, value in changes.items():
        data["calibration"][key] = value
    return station_from_dict(data, STATION)


@pytest.fixture(scope="module")
def calibrated(tmp_path_factory):
    """One calibration of the virtual lab with its default imperfections, and the lab's
    true values (board, SMU)."""
    directory = tmp_path_factory.mktemp("cal")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        with open_station(_station(directory), apply_calibration=False) as chip:
            record = calibrate_station(chip, thresholds=True)
            lab = chip.lab
    return record, lab, directory


@pytest.mark.slow
def test_procedures_recover_the_injected_imperfections_within_their_uncertainty(calibrated):
    record, lab, _ = calibrated
    smu, board = record.smu, lab.board
    assert abs(smu.offset.value - lab.smu.offset) < 5 * smu.offset.uncertainty + 1e-10
    assert abs(smu.gain.value - lab.smu.gain) < 3 * smu.gain.uncertainty
    r_s = smu.series_resistance
    assert abs(r_s.value - board.series_resistance) < 3 * r_s.uncertainty
    conv = record.converter
    z_gain = (conv.gain - board.converter_gain) / np.hypot(
        conv.gain_uncertainty, smu.gain.uncertainty
    )
    z_off = (conv.offset - board.converter_offset) / conv.offset_uncertainty
    assert np.abs(z_gain).max() < 4 and np.abs(z_off).max() < 4
    assert np.median(conv.gain_uncertainty) < 2e-3  # better than 0.2 % per line
    # the thresholds came from calibrated distributions and say how
    thr = record.thresholds
    assert thr.arrays == (0, 1) and "die sim:1t1r-20k:lot0:die7" in thr.thresholds.method
    assert thr.thresholds.median_g_p == pytest.approx(1 / 4292.0, rel=0.05)


@pytest.mark.slow
def test_records_round_trip(calibrated, tmp_path):
    record, _, _ = calibrated
    path = write_record(replace(record, id="", path=None), tmp_path)
    back = read_record(path)
    assert back.id == path.stem and back.station == "virtual-lab"
    assert back.created == record.created
    assert back.instruments == record.instruments
    assert back.procedure_version == record.procedure_version
    assert back.smu == record.smu
    np.testing.assert_array_equal(back.converter.gain, record.converter.gain)
    np.testing.assert_array_equal(
        back.converter.offset_uncertainty, record.converter.offset_uncertainty
    )
    assert back.thresholds == record.thresholds
    with pytest.raises(CalibrationError, match="exists already"):
        write_record(back, tmp_path)  # never overwritten


def _copy(record: CalibrationRecord, created: datetime, **changes) -> CalibrationRecord:
    return replace(record, created=created, id="", path=None, **changes)


@pytest.mark.slow
def test_newest_valid_record_is_chosen_and_problems_are_named(calibrated, tmp_path):
    record, _, _ = calibrated
    now = datetime(2030, 1, 2, 12, tzinfo=UTC)
    day = timedelta(days=1)
    for hours in (30, 5, 2):
        write_record(_copy(record, now - timedelta(hours=hours)), tmp_path)
    parts = record.instruments
    sel = select_record(tmp_path, "virtual-lab", parts, day, now=now)
    assert sel.valid and sel.record.created == now - timedelta(hours=2)
    # a newer record from another SMU is passed over, with a warning naming the part
    other = copy.deepcopy(parts)
    other["smu:sense"]["serial"] = "9999999"
    write_record(_copy(record, now - timedelta(hours=1), instruments=other), tmp_path)
    with pytest.warns(CalibrationWarning, match=r"smu:sense: recorded MODEL 2400 sn 9999999"):
        sel = select_record(tmp_path, "virtual-lab", parts, day, now=now)
    assert not sel.valid and sel.record.created == now - timedelta(hours=2)
    with pytest.raises(CalibrationError, match="smu:sense"):
        select_record(tmp_path, "virtual-lab", parts, day, now=now, strict=True)


def test_no_record_at_all_warns_with_what_to_do(tmp_path):
    with pytest.warns(CalibrationWarning) as caught:
        sel = select_record(tmp_path, "virtual-lab", {}, timedelta(days=1))
    assert sel.record is None and not sel.valid
    text = str(caught[0].message)
    assert "no calibration record for station 'virtual-lab'" in text
    assert "reads go uncorrected" in text and "mtj-hil calibrate --station" in text


@pytest.mark.slow
def test_stale_record_warns_or_fails_with_strict(calibrated, tmp_path):
    record, _, _ = calibrated
    now = datetime(2030, 1, 2, 12, tzinfo=UTC)
    write_record(_copy(record, now - timedelta(days=3)), tmp_path)
    with pytest.warns(
        CalibrationWarning, match="3.0 days ago, older than the station's validity of 1 days"
    ):
        sel = select_record(tmp_path, "virtual-lab", record.instruments, timedelta(days=1), now=now)
    assert sel.record is not None and not sel.valid  # applied anyway, flagged
    with pytest.raises(CalibrationError, match="older than the station's validity"):
        select_record(
            tmp_path, "virtual-lab", record.instruments, timedelta(days=1), now=now, strict=True
        )


@pytest.mark.slow
def test_record_from_another_board_is_refused_with_strict_and_names_it(calibrated, tmp_path):
    record, _, _ = calibrated
    parts = copy.deepcopy(record.instruments)
    parts["controller"]["serial"] = "XB0042"
    write_record(_copy(record, datetime.now(UTC), instruments=parts), tmp_path)
    with (
        pytest.raises(CalibrationError, match="controller: recorded XBC-1V sn XB0042, connected"),
        open_station(_station(tmp_path), strict=True),
    ):
        pass
    with (
        pytest.warns(CalibrationWarning, match="controller"),
        open_station(_station(tmp_path)) as chip,
    ):
        info = chip.describe()["calibration"]
    assert info["valid"] is False and info["applied"]["station"] == "virtual-lab"


@pytest.mark.slow
def test_open_station_applies_the_newest_record_and_reads_improve(calibrated):
    record, _, directory = calibrated
    with warnings.catch_warnings():
        warnings.simplefilter("error", CalibrationWarning)
        with open_station(_station(directory)) as chip:
            info = chip.describe()["calibration"]
            assert info["valid"] and info["applied"]["id"] == record.id
            truth = chip.lab.die.conductance_at(9, DEFAULT_READ_VOLTAGE)  # G at the read bias
            good = chip.lab.die.defect[9] == 0
            corrected = conductance_map(chip, 9, repeats=3).mean(axis=0)
            correction, chip.correction = chip.correction, None
            raw = conductance_map(chip, 9, repeats=3).mean(axis=0)
            chip.correction = correction
    err_raw = np.median(np.abs(raw[good] / truth[good] - 1))
    err_cal = np.median(np.abs(corrected[good] / truth[good] - 1))
    assert err_cal < 0.005 < err_raw


@pytest.mark.slow
def test_reference_far_from_its_listed_value_is_named_and_nothing_is_recorded(calibrated, tmp_path):
    record, _, _ = calibrated
    previous = write_record(_copy(record, datetime.now(UTC)), tmp_path)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        with open_station(_station(tmp_path), apply_calibration=False) as chip:
            chip.lab.board.reference_true[1] = 10_000.0  # fitted the wrong part
            with pytest.raises(
                CalibrationError, match=r"reference resistor r4k99 \(REF 1, listed 4990"
            ):
                calibrate_station(chip, thresholds=False)
    assert [r.path for r in list_records(tmp_path)] == [previous]
    sel = select_record(tmp_path, "virtual-lab", record.instruments, timedelta(days=1))
    assert sel.valid and sel.record.path == previous  # the previous calibration stays


@pytest.mark.slow
def test_reference_slightly_out_of_tolerance_is_named(tmp_path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        with open_station(_station(tmp_path), apply_calibration=False) as chip:
            chip.lab.board.reference_true[2] *= 1.02  # 2 % off: plausible, but does not fit
            with pytest.raises(CalibrationError, match="r10k .* does not fit the other references"):
                calibrate_chip(chip, thresholds=False)


@pytest.mark.slow
def test_dead_converter_line_is_named(calibrated, tmp_path):
    record, _, _ = calibrated
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", CalibrationWarning)
        with open_station(_station(tmp_path), apply_calibration=False) as chip:
            chip.lab.board.faults.dead_lines = {7}
            with pytest.raises(
                CalibrationError, match="converter of output line 7 does not respond"
            ):
                calibrate_converters(chip.controller, chip.smus["sense"], record.smu, rows=(0, 12))
    assert list_records(tmp_path) == []


@pytest.mark.slow
def test_strict_without_any_record_fails_and_closes_the_instruments(tmp_path):
    with (
        pytest.raises(CalibrationError, match="no calibration record"),
        open_station(_station(tmp_path), strict=True),
    ):
        pass


def test_series_correction_is_exact_for_equal_drive():
    corr = ReadPathCorrection(series_resistance=20.0)
    g = np.array([[2e-4, 1e-3, 5e-6]])  # line conductances, S
    v = np.zeros((1, 25))
    v[0, [3, 4]] = 0.2
    measured = 0.2 * g / (1 + 20.0 * g)
    np.testing.assert_allclose(corr.correct_series(measured, v), 0.2 * g, rtol=1e-12)


@pytest.mark.slow
def test_correction_from_record_inverts_the_converter_model(calibrated):
    record, _, _ = calibrated
    corr = ReadPathCorrection.from_record(record)
    c = record.converter
    true = np.linspace(-1e-5, 8e-5, 25)[None, :]
    np.testing.assert_allclose(corr.correct(3, c.gain * true + c.offset), true, atol=1e-15)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (
            {"references": {"r1": {"index": 0, "ohms": 1000.0, "tolerance": 0.5}}},
            "calibration.references.r1.tolerance",
        ),
        ({"voltages": [0.5]}, "calibration.voltages"),
        ({"full_scale": 2e-4}, "calibration.full_scale"),
        ({"rows": [25]}, "calibration.rows"),
    ],
)
def test_bad_calibration_settings_name_the_key(tmp_path, change, message):
    with pytest.raises(ConfigError, match=message):
        _station(tmp_path, **change)
