"""A controller board that resets itself just before the last SMU readings of an array (or of
a calibration): the SMU then reads an open connector (its own offset, about 0 A) through a
route the board no longer holds, and no board command follows to be refused. The mid-run
check asks the board (``STAT``) before anything is saved, so the run stops with exit 7,
the array is not stored, and a calibration writes no record.

The reset is the lab's own "board reset itself" fault (``VirtualBoard._power_up``)."""

from __future__ import annotations

import h5py
import pytest

import mtj_hil.sim.lab.lab as lab_module
from mtj_hil.cli.main import main

from .test_cli_station import _calibrating, _small_die, _virtual, _write


def _smu_path_station(tmp_path) -> str:
    """The virtual lab reading through the sense SMU, on a small die: the reset comes
    before the last readings whatever their number (counted on the same die)."""
    data = _small_die(tmp_path, _virtual())
    data["station"]["read_path"] = "smu"
    return _write(tmp_path, data)


def _count_reads(monkeypatch, reset_at: int | None = None) -> list[int]:
    """Count the sense SMU's ``:READ?`` queries; with ``reset_at``, the board resets
    itself just before query number ``reset_at``. Returns the live count."""
    boards: list = []
    reads = [0]

    class Board(lab_module.VirtualBoard):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            boards.append(self)

    real = lab_module.make_virtual_smu

    def build(*args, **kwargs):
        smu = real(*args, **kwargs)
        handle = smu.handle

        def counting(line):
            if line.strip() == ":READ?":
                reads[0] += 1
                if reads[0] == reset_at:
                    boards[0]._power_up()
            return handle(line)

        smu.handle = counting
        return smu

    monkeypatch.setattr(lab_module, "VirtualBoard", Board)
    monkeypatch.setattr(lab_module, "make_virtual_smu", build)
    return reads


ARGS = ["--arrays", "0", "--cycles", "1", "--remeasure-cycles", "0", "--bias-voltage", "0"]


def _calibration_station(tmp_path, cal) -> str:
    """The SMU-path station on the small die, calibrating five input lines as the shipped
    station does: each output line's fit has the same points (fewer output lines)."""
    data = _small_die(tmp_path, _virtual())
    data["station"]["read_path"] = "smu"
    return _calibrating(tmp_path, cal, data, rows=[0, 1, 2, 3, 5])


@pytest.fixture(scope="module")
def clean_reads(tmp_path_factory) -> dict[str, int]:
    """The sense SMU's ``:READ?`` count of a clean characterisation and of a clean
    calibration of the SMU-path station (the virtual lab is deterministic: every test's
    run asks the same queries), measured once for the module."""
    tmp = tmp_path_factory.mktemp("clean")
    with pytest.MonkeyPatch.context() as patch:
        reads = _count_reads(patch)
        station = _smu_path_station(tmp)
        run = ["characterize", "--station", station, *ARGS, "--no-report"]
        assert main([*run, "--out", str(tmp / "clean.h5")]) == 0
        counts = {"characterize": reads[0]}
    with pytest.MonkeyPatch.context() as patch:
        reads = _count_reads(patch)
        cal = tmp / "cal"
        station = _calibration_station(tmp, cal)
        assert main(["calibrate", "--station", station, "--no-thresholds"]) == 0
        assert len(list(cal.glob("*.toml"))) == 1
        counts["calibrate"] = reads[0]
    return counts


@pytest.mark.parametrize("before_last", [1, 3])
def test_a_board_reset_before_the_last_readings_stores_nothing(
    tmp_path, capsys, monkeypatch, before_last, clean_reads
):
    station = _smu_path_station(tmp_path)
    _count_reads(monkeypatch, reset_at=clean_reads["characterize"] - before_last + 1)
    out = tmp_path / "run.h5"
    capsys.readouterr()
    code = main(["characterize", "--station", station, *ARGS, "--no-report", "--out", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 7, err
    # caught by the check before the save, or by a board command the reset refused
    assert "no longer holds array 0" in err and "reset itself since the host" in err
    assert "Traceback" not in err
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "aborted"
        assert "characterization/array_index" not in f  # nothing read through the lost route
    if before_last != 1:
        return  # one resume shows the aborted file finishes (each is a whole station run)
    monkeypatch.undo()
    assert main(["characterize", "--station", station, *ARGS, "--no-report", "--out", str(out),
                 "--resume"]) == 0  # fmt: skip
    with h5py.File(out, "r") as f:
        assert f.attrs["status"] == "completed"
        assert list(f["characterization/array_index"][:]) == [0]


@pytest.mark.parametrize("before_last", [1, 3])
def test_a_board_reset_before_the_last_calibration_reading_writes_no_record(
    tmp_path, capsys, monkeypatch, before_last, clean_reads
):
    """A reset one or three readings before the end: unasked, the board's readings after it
    went into the last line's converter fit, and a record was written from them (checked
    with the board's check taken out); the board is asked first, and no record is written."""
    cal = tmp_path / "cal"
    station = _calibration_station(tmp_path, cal)
    _count_reads(monkeypatch, reset_at=clean_reads["calibrate"] - before_last + 1)
    capsys.readouterr()
    code = main(["calibrate", "--station", station, "--no-thresholds"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 7, err
    assert "reset itself since the host last checked it" in err
    assert "implausible" not in err
    assert not list(cal.glob("*.toml"))
