"""A protocol sequence the board could not take as written is refused whole before anything
is sent, naming the caller's step: a write plan whose step would not fit one ``SEQ ADD``
frame, and cell maps (``cells``, ``KnownStates.high``, ``KnownMap.conductance``) that are
not one value per cell of the die."""

from __future__ import annotations

import pytest

from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.protocols import CellState, Pulse
from mtj_hil.protocols.sequence import PulseAll, ReadMap, WriteAll, run_sequence

P, AP = CellState.P, CellState.AP
HEAD = [PulseAll(AP, Pulse(1.0, 1e-6)), ReadMap(0.1)]


def _sent(chip) -> tuple[int, int, int]:
    board = chip.lab.board
    return board.frames, len(board.pulses), board.conversions


def test_a_write_plan_too_long_for_one_upload_frame_is_refused_naming_the_step(lab_chip):
    """40 rounds, each of its own width: the board step is longer than one frame carries.
    Before, ``SEQ NEW`` went out (clearing the board's buffer) and the error named no step."""
    plan = tuple(Pulse(1.0, round(1e-7 * (i + 1), 10)) for i in range(40))
    before = _sent(lab_chip)
    with pytest.raises(SafetyViolation, match=r"step 2 \(WriteAll\).*SEQ ADD frame"):
        run_sequence(lab_chip, 3, [*HEAD, WriteAll(P, plan=plan)])
    assert _sent(lab_chip) == before  # not a frame: no SEL, no SEQ NEW
