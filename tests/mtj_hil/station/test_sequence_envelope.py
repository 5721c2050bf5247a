"""A protocol sequence that would leave the safety envelope is refused whole before anything
is sent, naming the step, for every kind of step and for its last step, whether the board
runs it (firmware 1.3) or the station runs it one command at a time (older firmware); a
sequence exactly at the envelope's limits runs, one a float's ulp beyond them is refused."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.protocols import CellState, Pulse
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.sequence import (
    KnownMap,
    KnownStates,
    PulseAll,
    ReadMap,
    ReadStates,
    WriteAll,
    run_sequence,
)

pytestmark = pytest.mark.filterwarnings("ignore::mtj_hil.errors.FallbackWarning")

P, AP = CellState.P, CellState.AP
UP = math.inf
LONG = [PulseAll(AP, Pulse(1.0, 1e-6)), ReadMap(0.1), WriteAll(P), ReadStates(0.1)] * 4
"""16 good steps (the virtual-lab envelope: reads <= 0.3 V, pulses 0.1..1.2 V, 1e-8..1e-5 s)."""

ABOVE = {
    "PulseAll amplitude": PulseAll(P, Pulse(math.nextafter(1.2, UP), 1e-6)),
    "PulseAll width": PulseAll(P, Pulse(1.0, math.nextafter(1e-5, UP))),
    "PulseAll below the least amplitude": PulseAll(P, Pulse(math.nextafter(0.1, 0), 1e-6)),
    "WriteAll pulse": WriteAll(P, pulse=Pulse(math.nextafter(1.2, UP), 1e-6)),
    "WriteAll plan": WriteAll(P, plan=(Pulse(1.0, 1e-6), Pulse(1.0, 2e-5))),
    "WriteAll read": WriteAll(P, read_voltage=math.nextafter(0.3, UP)),
    "ReadMap": ReadMap(math.nextafter(0.3, UP)),
    "ReadStates": ReadStates(0.31),
    "KnownMap": KnownMap(0.5, np.zeros((25, 25))),
    "KnownStates": KnownStates(0.5, np.zeros((25, 25), bool)),
}


def _firmware(chip, version: str) -> None:
    board = chip.lab.board
    if version != board.firmware:
        board.firmware, board.has_sequences, board.pipelined = version, False, False
        chip.controller.identify()


def _sent(chip) -> tuple[int, int, int]:
    board = chip.lab.board
    return board.frames, len(board.pulses), board.conversions


@pytest.mark.parametrize("firmware", ["1.3.0", "1.2.0"])
@pytest.mark.parametrize("bad", list(ABOVE))
def test_a_last_step_beyond_the_envelope_refuses_the_whole_sequence_naming_it(
    lab_chip, firmware, bad
):
    _firmware(lab_chip, firmware)
    step = ABOVE[bad]
    before = _sent(lab_chip)
    with pytest.raises((SafetyViolation, InvalidRequest)) as info:
        run_sequence(lab_chip, 3, [*LONG, step])
    assert f"step {len(LONG)} ({type(step).__name__})" in str(info.value)
    assert "before anything was sent" in str(info.value)
    assert _sent(lab_chip) == before  # not a frame: no SEL, no upload, no earlier step


@pytest.mark.parametrize("firmware", ["1.3.0", "1.2.0"])
def test_a_sequence_exactly_at_the_envelope_limits_runs(lab_chip, firmware):
    _firmware(lab_chip, firmware)
    at_limits = [
        PulseAll(AP, Pulse(1.2, 1e-5)),
        PulseAll(P, Pulse(0.1, 1e-8)),
        ReadMap(0.3),
        WriteAll(P, plan=(Pulse(1.0, 1e-6), Pulse(1.2, 1e-5)), read_voltage=0.3),
    ]
    pulses = len(lab_chip.lab.board.pulses)
    out = run_sequence(lab_chip, 5, at_limits)
    assert out[2].shape == (1, 25, 25) and out[3].rounds >= 1
    assert max(a for *_, a, _w in lab_chip.lab.board.pulses[pulses:]) <= 1.2
