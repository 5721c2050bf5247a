"""The controller board at the station's exit: its link lost mid-read or under the exit's
own RST (a USB-serial adapter that re-enumerated, a serial server's socket reset), or the
board refusing that RST once. The exit reopens the port or sends RST again, and the board
confirms its lines at 0 V. Before, the exit gave up at the first failure: the board was
left with its input lines enabled and driven, and the bench reported unsafe."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.sim.lab import DropConnection
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict
from mtj_hil.testing.hostile_start import STATION, _lab, _station

#: (fault, frame it strikes: counted from the start, or negative from the end)
CASES = [("drop", 8), ("drop", 10), ("drop", -1), ("error", -1)]


def _run(fault: str | None, at: int):
    lab = _lab("keithley2400", "power-on", 0, 3)
    board, real, count = lab.board, lab.board.handle, [0]

    def handle(line: bytes):
        count[0] += 1
        if count[0] == at:
            if fault == "drop":
                raise DropConnection("injected")
            board.faults.error_next = ("E99", "injected")
        return real(line)

    lab.board_server._handler = handle
    error = None
    with lab, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        data = _station("keithley2400", lab)
        data["station"]["read_path"] = "adc"
        try:
            with open_station(station_from_dict(data, STATION), apply_calibration=False) as chip:
                v = np.zeros((2, chip.layout.rows))
                v[0, 5] = v[1, 7] = 0.1
                chip.read(1, v)
        except InstrumentError as exc:
            error = exc
    return count[0], error, chip.shutdown, board._state, lab.smu.output


@pytest.fixture(scope="module")
def frames() -> int:
    count, error, report, _, _ = _run(None, 0)
    assert error is None and report.safe
    return count


@pytest.mark.parametrize(("fault", "at"), CASES)
def test_the_board_confirms_its_lines_at_0_v_at_the_exit(frames, fault, at):
    _, error, report, state, smu_on = _run(fault, at if at > 0 else frames + 1 + at)
    assert report.board_safe, report.message()
    assert not state.rows.any() and not np.any(state.vread)
    assert not smu_on
    if error is not None:  # the read's own failure, not an unsafe exit
        assert "NOT confirm" not in str(error)
