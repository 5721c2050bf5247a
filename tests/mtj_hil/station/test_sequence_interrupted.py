"""A run cut short on the host's side: Ctrl-C while a run's frames stream in, or a host
that falls silent after a long run. Either way the board ends with every line at 0 V and
the SMU output off."""

from __future__ import annotations

import pytest

from mtj_hil.instruments.controller.link import ControllerLink
from mtj_hil.protocols import CellState, Pulse
from mtj_hil.protocols.sequence import PulseAll, ReadMap, run_sequence


def _safe(lab) -> bool:
    s = lab.board._state
    return s.route == "OFF" and not s.rows.any() and not s.vread.any() and not lab.smu.output


def test_ctrl_c_while_a_run_streams_leaves_the_bench_safe(lab_chip, monkeypatch):
    lab = lab_chip.lab
    real = ControllerLink._readline
    seen = {"dat": 0}

    def readline(self, deadline, command):
        line = real(self, deadline, command)
        if line.startswith(b"DAT "):
            seen["dat"] += 1
            if seen["dat"] == 2:  # the run's other frames are still on their way
                raise KeyboardInterrupt
        return line

    monkeypatch.setattr(ControllerLink, "_readline", readline)
    steps = [ReadMap(0.1, repeats=3), PulseAll(CellState.P, Pulse(1.0, 1e-6)), ReadMap(0.1)]
    with pytest.raises(KeyboardInterrupt), lab_chip:
        run_sequence(lab_chip, 0, steps)
    monkeypatch.undo()
    assert seen["dat"] > 2  # the shutdown's reset met the run's later frames first
    # the reset read past the rest of the stream and was answered: confirmed safe
    assert lab_chip.shutdown is not None and lab_chip.shutdown.safe
    assert _safe(lab)


def test_a_host_silent_after_a_long_run_leaves_the_board_safe_by_its_watchdog(lab_chip):
    """The run counts as the host talking until its final frame; from there the board
    waits ``t_watchdog`` and goes safe by itself."""
    board = lab_chip.lab.board
    run_sequence(lab_chip, 0, [ReadMap(0.1, repeats=40)])  # ~17 s on the board
    assert board._state.route == "ADC" and board._state.rows.all()
    board.clock.advance(board.watchdog_s - 1.0)
    assert not board.check_watchdog()  # the run itself was traffic
    board.clock.advance(1.0)
    assert board.check_watchdog()
    s = board._state
    assert s.route == "OFF" and not s.rows.any() and not s.vread.any()
