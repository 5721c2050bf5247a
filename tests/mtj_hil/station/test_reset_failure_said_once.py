"""A board that stops answering at its reset, outside a run (``mtj-hil calibrate``): the
terminal says the reset failure once, in the error, not also as a stray log line."""

from __future__ import annotations

import logging
import tomllib

import pytest

import mtj_hil.sim.lab.board as board_module
from mtj_hil.cli.main import main

from .conftest import STATION
from .test_cli_station import _write

pytestmark = pytest.mark.slow


def test_a_board_dead_at_its_reset_is_said_once_outside_a_run(tmp_path, capsys, monkeypatch):
    real_handle = board_module.VirtualBoard.handle

    def handle(self, line):
        if line.startswith(b"RST"):
            self.faults.dead = True  # the board hangs at its reset: it never answers again
        return real_handle(self, line)

    monkeypatch.setattr(board_module.VirtualBoard, "handle", handle)
    # as on the command line: no logging handler (pytest's own would hide what logging's
    # last-resort handler prints on stderr)
    monkeypatch.setattr(logging.root, "handlers", [])
    data = tomllib.loads(STATION.read_text())
    data["controller"].update(timeout=0.1, retries=1)
    data["calibration"]["dir"] = str(tmp_path / "calibrations")
    station = _write(tmp_path, data)
    assert main(["calibrate", "--station", station]) != 0
    err = capsys.readouterr().err
    assert err.count("no valid reply to RST") == 1, err
    assert "did NOT confirm its lines at 0 V" in err
