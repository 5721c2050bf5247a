"""A board announcing timing no board of the protocol has (a firmware fault, a board of
another kind) is refused when it is identified, naming the field: every reply deadline is
built from those figures, and a transaction holds Ctrl-C until its deadline, so a board
claiming t_cmd = 500 s that then hangs kept the host waiting 1000 s, deaf to Ctrl-C."""

from __future__ import annotations

from dataclasses import replace

import pytest

from mtj_hil.instruments.controller import ChipController
from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.sim.die import make_die
from mtj_hil.sim.lab.board import VirtualBoard
from mtj_hil.sim.lab.board_setup import BoardTiming, ReadPathImperfections
from mtj_hil.sim.lab.server import LineServer
from mtj_hil.sim.profile import load_profile

#: board timing field -> its LIM name and a value beyond any board's
ABSURD = {
    "t_cmd": ("t_cmd", 500.0),
    "t_route": ("t_route", 2.0),
    "t_pulse": ("t_pulse", 30.0),
    "t_dac": ("t_dac", 1e3),
    "t_read": ("t_read", 1e4),
    "t_int": ("t_int", 0.5),
    "t_step": ("t_step", 3.0),
    "t_seq_max": ("t_seqmax", 3600.0),
}


def _served(timing: BoardTiming) -> tuple[VirtualBoard, LineServer]:
    die = make_die(load_profile("1t1r-20k"), 0, 0)
    board = VirtualBoard(die, timing=timing, imperfections=ReadPathImperfections.ideal())
    return board, LineServer(board.handle, encoding=None, name="timing-board")


@pytest.mark.parametrize("field", ABSURD)
def test_a_board_announcing_absurd_timing_is_refused_naming_the_field(field):
    name, value = ABSURD[field]
    _, server = _served(replace(BoardTiming(), **{field: value}))
    with server, pytest.raises(InstrumentError, match=f"LIM {name}=.*at most"):
        ChipController(server.url, timeout=0.5)


def test_the_reference_boards_timing_is_accepted():
    _, server = _served(BoardTiming())
    with server:
        ctrl = ChipController(server.url, timeout=0.5)
        try:
            assert ctrl.identity is not None and ctrl.identity.limits.t_seq_max == 30.0
        finally:
            ctrl.close()
