"""Fixtures of the controller tests: a firmware-1.3 virtual board served on a loopback
socket, with a driver connected to it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from mtj_hil.instruments.controller import ChipController
from mtj_hil.instruments.safety import SafetyEnvelope
from mtj_hil.sim.die import make_die
from mtj_hil.sim.lab.board import VirtualBoard
from mtj_hil.sim.lab.board_setup import ReadPathImperfections
from mtj_hil.sim.lab.server import LineServer
from mtj_hil.sim.profile import load_profile

BENCH_ENVELOPE = SafetyEnvelope(
    max_read_voltage=0.3,
    min_pulse_amplitude=0.1,
    max_pulse_amplitude=1.2,
    min_pulse_width=1e-8,
    max_pulse_width=1e-5,
)
"""The virtual-lab station's envelope (V, s): what a sequence is checked against."""


def sequence_board(firmware: str = "1.3.0") -> VirtualBoard:
    """A virtual board on die 0 of lot 0 (1t1r-20k) with an ideal read path."""
    die = make_die(load_profile("1t1r-20k"), 0, 0)
    return VirtualBoard(die, imperfections=ReadPathImperfections.ideal(), firmware=firmware)


@pytest.fixture
def lab() -> Iterator[tuple[VirtualBoard, ChipController]]:
    """``(board, driver)``: the board served on loopback, the driver connected to it."""
    board = sequence_board()
    server = LineServer(board.handle, encoding=None, name="seq-board").start()
    ctrl = ChipController(server.url, timeout=0.5)
    try:
        yield board, ctrl
    finally:
        ctrl.close()
        server.stop()


@pytest.fixture
def bench() -> Iterator[tuple[VirtualBoard, ChipController]]:
    """``(board, driver)``: a virtual board (60 s host watchdog, the lab's read path) and a
    driver whose idle time runs on the board's modelled clock (so no test waits)."""
    board = VirtualBoard(make_die(load_profile("1t1r-20k"), 0, 0))
    server = LineServer(board.handle, encoding=None, name="watchdog-board").start()
    ctrl = ChipController(server.url, link_clock=lambda: board.clock.now)
    try:
        yield board, ctrl
    finally:
        ctrl.close()
        server.stop()
