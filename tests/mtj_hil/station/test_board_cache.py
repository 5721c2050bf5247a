"""The host's picture of the controller board (selection, routes, masks, read voltages,
converter range) lets InstrumentChip skip redundant commands; it must never outlive a failed
board command."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.errors import InstrumentTimeout
from mtj_hil.protocols import CellState, Pulse
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import STATION

pytestmark = pytest.mark.slow


def _lose_reply_then_go_silent(board, verb: bytes) -> None:
    """The board executes the next ``verb`` frame, its reply is lost, and it stays silent
    for the host's retries (the host sees a timeout; the board did act)."""
    real = board._answer

    def answer(line):
        result = real(line)
        if line.startswith(verb + b" "):
            board.faults.lose_reply_of, board.faults.silent = verb.decode(), 20
            del board._answer
        return result

    board._answer = answer


def test_a_failed_board_command_makes_the_host_forget_what_it_believed_enabled(station_dict):
    """An EN the board executed but whose reply never arrived: the host must not keep
    believing the old mask is enabled, or its next write skips the EN as redundant and the
    PULSE lands on the cells the lost EN enabled (with the cell count unchecked)."""
    with open_station(station_from_dict(station_dict, STATION)) as chip:
        board = chip.lab.board
        first, second = np.zeros((25, 25), bool), np.zeros((25, 25), bool)
        first[0, 0] = True
        second[10:12, 10:12] = True
        pulse = Pulse(1.0, 1e-6)
        chip.program(3, first, CellState.P, pulse)
        _lose_reply_then_go_silent(board, b"EN")
        with pytest.raises(InstrumentTimeout):
            chip.program(3, second, CellState.P, pulse)
        board.faults.silent = 0
        assert board._state.rows.sum() == 2  # the lost EN did enable the second mask
        before = len(board.pulses)
        chip.program(3, first, CellState.P, pulse)
        assert [n for _, n, *_ in board.pulses[before:]] == [1]  # the one cell asked for
        assert board._state.rows.sum() == 1 and board._state.cols.sum() == 1


def test_a_lost_select_does_not_make_the_next_read_measure_the_wrong_array(station_dict):
    """A SEL the board executed but whose reply never arrived: the next read of the array
    the host had selected before must select it again, not read the other array's devices
    under its number."""
    with open_station(station_from_dict(station_dict, STATION)) as chip:
        board, die = chip.lab.board, chip.lab.die
        volts = np.zeros((1, 25))
        volts[0, 4] = 0.1
        chip.read(2, volts)
        _lose_reply_then_go_silent(board, b"SEL")
        with pytest.raises(InstrumentTimeout):
            chip.read(9, volts)
        board.faults.silent = 0
        assert board._state.array == 9  # the lost SEL did select array 9
        currents = chip.read(2, volts)[0]
        assert board._state.array == 2
        truth, other = die.conductance(2)[4] * 0.1, die.conductance(9)[4] * 0.1
        ok = (truth > 1e-6) & (np.abs(truth - other) > 0.2 * truth)
        assert ok.sum() >= 5
        np.testing.assert_allclose(currents[ok], truth[ok], rtol=0.05)


@pytest.mark.parametrize("event", ["own reset", "host watchdog"])
def test_a_board_that_reset_between_arrays_reads_at_the_asked_voltages(station_dict, event):
    """The board reset itself (or its host watchdog fired) after a read of array 0: the SEL
    of array 1 succeeds on the fresh board, which holds 0 V read voltages. The host skipped
    its VREAD as already sent, and the read came back ~0 A as good readings."""
    with open_station(station_from_dict(station_dict, STATION)) as chip:
        lab = chip.lab
        v = np.zeros((1, chip.layout.rows))
        v[0, :5] = 0.1  # several lines at once: the VREAD + READ path
        before = chip.read(1, v)
        chip.read(0, v)
        if event == "own reset":
            lab.board._power_up()
        else:
            lab.clock.advance(61.0)
            lab.board.check_watchdog()
        after = chip.read(1, v)
        np.testing.assert_allclose(after, before, rtol=0.05, atol=1e-7)
        np.testing.assert_allclose(after, lab.die.read(1, v), rtol=0.05, atol=1e-7)
