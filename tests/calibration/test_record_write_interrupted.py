"""A stop signal (SIGTERM, Ctrl-C) arriving while a calibration record is written: the
calibration was measured already, so the record is written whole first, then the stop goes
on; the command says the record was written. (A kill or a full disk at each of these writes
is :mod:`scripts.bench_crash`'s calibration scenario.)"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mtj_hil.calibration import list_records, read_record, write_record
from mtj_hil.cli.main import main
from mtj_hil.instruments.bus.signals import stop_signals_raise
from mtj_hil.testing.write_faults import write_faults

ROOT = Path(__file__).resolve().parents[2]
RECORD = next((ROOT / "tests/fixtures/legacy-0.1/stations/calibrations/virtual-lab").glob("*.toml"))


@pytest.fixture(scope="module")
def points(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref")
    with write_faults(folder) as faults:
        write_record(read_record(RECORD), folder / "records")
    return faults.points


@pytest.mark.parametrize("action", ["SIGTERM", "SIGINT"])
@pytest.mark.parametrize("k", range(1, 8))
def test_a_stop_while_a_record_is_written_keeps_it_whole(action, k, points, tmp_path):
    if k > len(points):
        pytest.skip(f"writing a record makes {len(points)} writes")
    record = read_record(RECORD)
    with (
        stop_signals_raise(),
        write_faults(tmp_path, k, action) as faults,
        pytest.raises(KeyboardInterrupt),
    ):
        write_record(record, tmp_path / "records")
    assert faults.fired
    assert record.path is not None
    (kept,) = list_records(tmp_path / "records")
    assert kept.path == record.path and kept.id == record.id


def test_calibrate_stopped_while_writing_says_the_record_is_kept(tmp_path, capsys):
    shutil.copy(ROOT / "stations" / "virtual-lab.toml", tmp_path)
    station = tmp_path / "virtual-lab.toml"
    # write 3: the record's folder (writes 1 and 2 make and remove the probe folder that
    # shows, before anything is measured, that the folder can be written)
    with write_faults(tmp_path, 3, "SIGTERM"):
        assert main(["calibrate", "--station", str(station), "--no-thresholds"]) == 143
    err = " ".join(capsys.readouterr().err.split())
    (kept,) = list_records(tmp_path / "calibrations" / "virtual-lab")
    assert f"the calibration record {kept.path} was written before the stop" in err
    assert err.endswith("stopped by SIGTERM")
