"""A virtual lab run at a ``pace`` (wall seconds per modelled second, to watch a run) is
waited for: the board's and the SMU's timeouts, computed for instruments in real time, are
stretched by the pace (``pace = 10`` passed ``station check``, then a run timed out on its
first board-side sequence; an SMU sweep timed out and its shutdown was not confirmed)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.instruments.controller import ChipController
from mtj_hil.station.connect import board_time_scale, open_station, smu_time_scale
from mtj_hil.station.files import load_station
from mtj_hil.station.smu import make_smu

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"


def _paced(pace: float):
    station = load_station(STATION)
    lab = dataclasses.replace(station.virtual_lab, pace=pace)
    return dataclasses.replace(station, virtual_lab=lab)


def test_a_read_on_a_paced_virtual_board_is_waited_for():
    station = _paced(10.0)
    with open_station(station, apply_calibration=False) as chip:
        assert chip.controller.time_scale == 10.0
        # one vector: 16.7 ms of converter integration, 0.17 s at this pace, where the
        # board's own timeout is 2 x (command + integration + wire) + 0.05 s
        currents = chip.read(0, np.full((1, chip.layout.rows), 0.1))
    assert np.isfinite(currents).all() and currents.shape == (1, chip.layout.cols)


def test_only_the_in_process_virtual_board_is_waited_for_longer():
    station = _paced(10.0)
    assert board_time_scale(station, None, "/dev/ttyACM0") == 1.0  # no lab: a real board
    assert board_time_scale(_paced(0.0), _Lab(), _Lab.controller_url) == 1.0  # unpaced
    assert board_time_scale(_paced(0.5), _Lab(), _Lab.controller_url) == 1.0  # faster
    assert board_time_scale(station, _Lab(), "socket://elsewhere:1") == 1.0
    assert board_time_scale(station, _Lab(), _Lab.controller_url) == 10.0


class _Lab:
    controller_url = "socket://127.0.0.1:5"


@pytest.mark.parametrize("scale", [0.5, float("nan"), float("inf")])
def test_a_time_scale_that_would_shorten_or_lose_the_timeouts_is_refused(scale):
    with pytest.raises(ValueError, match="time_scale"):
        ChipController("loop://", time_scale=scale, identify=False)


def test_the_handshake_timeout_is_stretched_too():
    # before the board said its limits (SYNC, IDN, LIM) the configured timeout applies:
    # at pace 20 the board was 'unreachable' at station check
    board = ChipController("loop://", timeout=0.5, time_scale=20.0, identify=False)
    try:
        assert board._operation_timeout(0.0, 10, 10) == pytest.approx(10.0)
    finally:
        board.close()


def test_an_smu_sweep_on_a_paced_virtual_lab_is_waited_for_and_shut_down_safely():
    # 12 points at 1 NPLC (60 Hz): 0.2 s of the SMU's time, 2 s at pace 10. Unstretched,
    # the sweep's timeout was 0.05 s (the entry's) + 1.5 x 0.2 s + 0.1 s; it timed out, and
    # the shutdown after it, reading the sweep's late reply, could not confirm the output
    # off. Stretching the entry's timeout alone (0.5 s) is not enough: the work is paced too.
    station = _paced(10.0)
    smus = tuple(dataclasses.replace(c, timeout=0.05) for c in station.smus)
    station = dataclasses.replace(station, smus=smus)
    with open_station(station, apply_calibration=False) as chip:
        smu = next(iter(chip.smus.values()))
        assert smu.time_scale == 10.0
        smu.enable_source()
        readings = smu.sweep_voltages([0.0] * 12)
    assert len(readings) == 12


def test_only_the_in_process_virtual_smu_is_waited_for_longer():
    station = _paced(10.0)
    virtual = station.smus[0]
    real = dataclasses.replace(virtual, resource="TCPIP::10.0.0.7::5025::SOCKET")
    assert smu_time_scale(station, None, virtual) == 1.0  # no lab
    assert smu_time_scale(_paced(0.0), _Lab(), virtual) == 1.0  # unpaced
    assert smu_time_scale(_paced(0.5), _Lab(), virtual) == 1.0  # faster than real time
    assert smu_time_scale(station, _Lab(), real) == 1.0  # a real SMU beside the lab
    assert smu_time_scale(station, _Lab(), virtual) == 10.0


@pytest.mark.parametrize("scale", [0.5, float("nan"), float("inf")])
def test_an_smu_time_scale_that_would_shorten_or_lose_the_timeouts_is_refused(scale):
    station = _paced(10.0)
    with pytest.raises(ValueError, match="time_scale"):
        make_smu(station.smus[0], "TCPIP::127.0.0.1::9::SOCKET", station, time_scale=scale)
