"""Firmware 1.3 sequences: per-round pulse widths of a write-verify, and a sequence run again
from the board's buffer without uploading it (and uploaded again whenever the host cannot
vouch for the buffer)."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.controller.sequence import (
    Enable,
    PulseStep,
    Range,
    Scan,
    WriteVerify,
    decode_step,
    encode_step,
)
from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.sim.lab.board import VirtualBoard

from .conftest import BENCH_ENVELOPE

EVERY = tuple(range(25))
THR = (2100,) * 25


def _verbs(board: VirtualBoard, before: int) -> int:
    return board.frames - before


def test_a_round_may_carry_its_own_width_in_the_token():
    step = WriteVerify("POS", 1e-6, 0.1, True, (1.0, 1.2, 1.2), THR, widths=(1e-6, 1e-6, 1e-5))
    token = encode_step(step, 25, 25)
    assert ":1.000,1.200,1.200/1.000e-05:" in token
    assert decode_step(token, 25, 25) == step
    assert step.round_widths() == (1e-6, 1e-6, 1e-5)
    plain = WriteVerify("POS", 1e-6, 0.1, True, (1.0, 1.2), THR)
    assert "/" not in encode_step(plain, 25, 25) and plain.round_widths() == (1e-6, 1e-6)
    with pytest.raises(ValueError, match="widths"):
        WriteVerify("POS", 1e-6, 0.1, True, (1.0, 1.2), THR, widths=(1e-6,)).round_widths()


def test_a_round_width_outside_the_envelope_is_refused_before_upload(lab):
    board, ctrl = lab
    ctrl.envelope = BENCH_ENVELOPE
    ctrl.select_array(0)
    frames = board.frames
    wide = WriteVerify("POS", 1e-6, 0.1, True, (1.0, 1.2), THR, widths=(1e-6, 2e-5))
    with pytest.raises(SafetyViolation, match=r"step 1 \(WriteVerify\).*width"):
        ctrl.run_sequence([Enable(EVERY, EVERY), wide])
    assert board.frames == frames  # nothing went out


def test_the_board_pulses_each_round_with_its_own_width(lab):
    board, ctrl = lab
    ctrl.select_array(3)
    never = (4095,) * 25  # no code is above it: nothing verifies, every round runs
    to_p = WriteVerify("POS", 1e-6, 0.1, True, (1.0, 1.2, 1.2), never, widths=(1e-6, 1e-6, 1e-5))
    before = len(board.pulses)
    out = ctrl.run_sequence([Enable(EVERY, EVERY), Range(1e-4), to_p])
    assert [r.round for r in out] == [0, 1, 2, 3]
    assert np.allclose([w for *_, w in board.pulses[before:]], [1e-6, 1e-6, 1e-5])


def test_the_same_sequence_runs_again_from_the_buffer_and_a_changed_one_is_uploaded(lab):
    board, ctrl = lab
    steps = [Enable(EVERY, EVERY), PulseStep("POS", 1.0, 1e-6), Scan(0.1)]
    ctrl.select_array(1)
    ctrl.run_sequence(steps)
    ctrl.select_array(2)
    frames, pulses = board.frames, len(board.pulses)
    second = ctrl.run_sequence(steps)
    assert _verbs(board, frames) == 1  # SEQ RUN alone
    assert len(board.pulses) == pulses + 1 and board.pulses[-1][0] == 2 and len(second) == 1
    frames = board.frames
    ctrl.run_sequence([*steps, Scan(0.2)])
    assert _verbs(board, frames) == 3  # NEW, ADD, RUN
    frames = board.frames
    ctrl.reset()  # RST: the host no longer vouches for the buffer
    ctrl.select_array(2)
    ctrl.run_sequence([*steps, Scan(0.2)])
    assert _verbs(board, frames) == 5  # RST, SEL, NEW, ADD, RUN


def test_a_buffer_lost_to_a_board_reset_is_uploaded_again(lab):
    board, ctrl = lab
    steps = [Enable(EVERY, EVERY), PulseStep("POS", 1.0, 1e-6), Scan(0.1)]
    ctrl.select_array(1)
    ctrl.run_sequence(steps)
    board._power_up()  # its own watchdog: empty buffer, no selection
    ctrl.select_array(1)
    pulses = len(board.pulses)
    out = ctrl.run_sequence(steps)  # RUN finds an empty buffer (steps=0): NEW, ADD, RUN
    assert len(out) == 1 and len(board.pulses) == pulses + 1
