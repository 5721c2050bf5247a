"""``calibrate`` on a full disk: the record cannot be written, a file problem (exit 4, the
run-file commands' code and line), not a calibration failure (it exited 8 with a bare
``Error:`` line)."""

from __future__ import annotations

import errno
import os

import mtj_hil.fileio.atomic as atomic
from mtj_hil.cli.main import main

from .test_cli_station import _calibrating


def test_a_full_disk_while_writing_the_record_exits_4_naming_it(tmp_path, capsys, monkeypatch):
    cal = tmp_path / "cal"
    station = _calibrating(tmp_path, cal)

    def full(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "write_all", full)
    code = main(["calibrate", "--station", station, "--no-thresholds"])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 4, err
    assert err.startswith("error (RecordWriteError): "), err
    assert "No space left on device" in err and str(cal) in err
    assert not list(cal.glob("*.toml")) and not list(cal.glob(".*"))
