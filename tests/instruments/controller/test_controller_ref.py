"""ROUTE REF <k> (firmware 1.2): the host side against the virtual board."""

from __future__ import annotations

import pytest

from mtj_hil.instruments.controller import ChipController
from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.sim.die import make_die
from mtj_hil.sim.lab.board import VirtualBoard
from mtj_hil.sim.lab.board_setup import ReadPathImperfections
from mtj_hil.sim.lab.server import LineServer
from mtj_hil.sim.profile import load_profile


def _open(imperfections: ReadPathImperfections | None = None):
    board = VirtualBoard(make_die(load_profile("1t1r-20k"), 0, 0), imperfections=imperfections)
    server = LineServer(board.handle, encoding=None, name="ref-board").start()
    return board, server, ChipController(server.url)


def test_route_reference_puts_the_resistor_on_the_smu_connector():
    board, server, ctrl = _open()
    try:
        assert ctrl.identity.references == 3
        ctrl.route_reference(1)  # allowed without a selected array
        assert board._state.route == "REF"
        assert ctrl.status().route == "REF"
        expected = 0.1 / (board.reference_true[1] + board.series_resistance)
        assert board.smu_current(0.1) == pytest.approx(expected)
        frames = board.frames
        with pytest.raises(ValueError, match="reference resistor 3 outside 0..2"):
            ctrl.route_reference(3)
        assert board.frames == frames  # refused locally, nothing sent
        ctrl.select_array(0)  # SEL routes OFF: the resistor is off the connector again
        assert board.smu_current(0.1) == 0.0
    finally:
        ctrl.close()
        server.stop()


def test_board_without_references_is_refused_locally():
    board, server, ctrl = _open(ReadPathImperfections(reference_ohms=()))
    try:
        assert ctrl.identity.references == 0
        frames = board.frames
        with pytest.raises(InstrumentError, match="no reference resistors"):
            ctrl.route_reference(0)
        assert board.frames == frames
    finally:
        ctrl.close()
        server.stop()
