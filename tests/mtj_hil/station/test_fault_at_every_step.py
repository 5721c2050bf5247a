"""A station opened, read through its sense SMU, checked and closed, with one fault at the
n-th line the SMU receives, for n across the whole exchange (open and known state, reads,
mid-run check, shutdown): Ctrl-C pressed right after that line, or the instrument dropping
the connection on it. Whatever n: the output ends off, an error names the SMU, the bench is
not reported unsafe, and a read that completed is the die's."""

from __future__ import annotations

import os
import signal
import warnings

import numpy as np
import pytest

from mtj_hil.instruments.errors import InstrumentError, UnsafeShutdown
from mtj_hil.sim.lab import DropConnection
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict
from mtj_hil.testing.hostile_start import STATION, _lab, _station

DRIVER = "keithley2400"
ARRAY, ROW, VOLTS = 1, 5, 0.1
STRIDE = 12  # every 12th line of the about 130: each phase gets some


def _run(kind: str | None, at: int):
    """Open, read one input line, check, close, with ``kind`` at SMU line ``at``; return
    (lines seen, the exception or ``None``, the read or ``None``, the output at the end)."""
    lab = _lab(DRIVER, "power-on", 0, 3)
    smu, real, count = lab.smu, lab.smu.handle, [0]

    def handle(line: str):
        count[0] += 1
        if count[0] == at and kind == "drop":
            raise DropConnection("injected")
        reply = real(line)
        if count[0] == at and kind == "ctrl-c":
            os.kill(os.getpid(), signal.SIGINT)
        return reply

    lab.smu_server._handler = handle
    error: BaseException | None = None
    read = None
    with lab, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        station = station_from_dict(_station(DRIVER, lab), STATION)
        try:
            with open_station(station, apply_calibration=False) as chip:
                v = np.zeros((1, chip.layout.rows))
                v[0, ROW] = VOLTS
                read = chip.read(ARRAY, v)
                chip.verify_instruments()
        except (KeyboardInterrupt, InstrumentError) as exc:
            error = exc
    return count[0], error, read, smu.output


@pytest.fixture(scope="module")
def reference():
    lines, error, read, on = _run(None, 0)
    assert error is None and not on
    return lines, read


#: lines counted from the start; negative: from the end (the shutdown's output-off and
#: its read-back are the last lines)
LINES = [*range(1, 130, STRIDE), -3, -2, -1]


@pytest.mark.parametrize("at", LINES)
@pytest.mark.parametrize("kind", ["ctrl-c", "drop"])
@pytest.mark.usefixtures("python_sigint")
def test_a_fault_at_any_line_ends_with_the_output_off_and_the_smu_named(reference, kind, at):
    lines, truth = reference
    _, error, read, on = _run(kind, at if at > 0 else lines + 1 + at)
    assert on is False
    assert not isinstance(error, UnsafeShutdown), str(error)
    if kind == "ctrl-c":
        assert isinstance(error, KeyboardInterrupt)
    elif error is not None:
        assert "SMU sense" in str(error)
    if read is not None:
        np.testing.assert_allclose(read, truth, rtol=1e-3, atol=1e-9)
