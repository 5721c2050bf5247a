"""A protocol sequence the board could not take as written is refused whole before anything
is sent, naming the caller's step: a write plan whose step would not fit one ``SEQ ADD``
frame, cell maps (``cells``, ``KnownStates.high``, ``KnownMap.conductance``) that are not
one value per cell of the die, and values of the wrong kind (a state that is no CellState,
a count that is no integer, a voltage that is no number)."""

from __future__ import annotations

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
    WriteAll,
    run_sequence,
)

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


def _firmware(chip, version: str) -> None:
    board = chip.lab.board
    if version != board.firmware:
        board.firmware, board.has_sequences, board.pipelined = version, False, False
        chip.controller.identify()


FLAT = np.ones(25 * 25, bool)
MAPS = {
    "cells flat": WriteAll(P, cells=FLAT),
    "cells a row short": WriteAll(P, cells=np.ones((24, 25), bool)),
    "known states flat": KnownStates(0.1, FLAT),
    "known map transposed shape": KnownMap(0.1, np.full((25, 24), 2e-4)),
}


@pytest.mark.filterwarnings("ignore::mtj_hil.errors.FallbackWarning")
@pytest.mark.parametrize("firmware", ["1.3.0", "1.2.0"])
@pytest.mark.parametrize("bad", list(MAPS))
def test_a_cell_map_not_of_the_dies_shape_is_refused_before_anything_is_applied(
    lab_chip, firmware, bad
):
    """A flat map of 625 cells went through the board's bit map (it is flattened there) and
    was found wrong only after the run, its pulses applied, as numpy's broadcasting error."""
    _firmware(lab_chip, firmware)
    step = MAPS[bad]
    before = _sent(lab_chip)
    steps = [*HEAD, step, WriteAll(P)]
    with pytest.raises(InvalidRequest, match=rf"step 2 \({type(step).__name__}\).*\(25, 25\)"):
        run_sequence(lab_chip, 3, steps)
    assert _sent(lab_chip) == before


WRONG_KIND = {
    # "P" is no CellState: it compared unequal to CellState.P, and the board path pulsed
    # every cell with the AP polarity (NEG on this station), the write verifying AP
    "PulseAll state 'P'": (PulseAll("P", Pulse(1.0, 1e-6)), "state must be CellState"),
    "WriteAll state 'P'": (WriteAll("P"), "state must be CellState"),
    "WriteAll state None": (WriteAll(None), "state must be CellState"),
    "PulseAll without a pulse": (PulseAll(P, None), "a pulse is needed"),
    "WriteAll rounds 2.5": (WriteAll(P, rounds=2.5), "rounds must be an integer"),
    "ReadMap repeats 2.5": (ReadMap(0.1, repeats=2.5), "repeats must be an integer"),
    "ReadMap voltage '0.1'": (ReadMap("0.1"), "read_voltage must be a number"),
}


@pytest.mark.filterwarnings("ignore::mtj_hil.errors.FallbackWarning")
@pytest.mark.parametrize("firmware", ["1.3.0", "1.2.0"])
@pytest.mark.parametrize("bad", list(WRONG_KIND))
def test_a_step_value_of_the_wrong_kind_is_refused_before_anything_is_applied(
    lab_chip, firmware, bad
):
    _firmware(lab_chip, firmware)
    step, reason = WRONG_KIND[bad]
    before = _sent(lab_chip)
    with pytest.raises(InvalidRequest, match=rf"step 2 \({type(step).__name__}\): {reason}"):
        run_sequence(lab_chip, 3, [*HEAD, step])
    assert _sent(lab_chip) == before


@pytest.mark.filterwarnings("ignore::mtj_hil.errors.FallbackWarning")
@pytest.mark.parametrize("firmware", ["1.3.0", "1.2.0"])
def test_a_known_map_holding_nan_is_refused_before_anything_is_applied(lab_chip, firmware):
    """A cell without a reading (NaN) counted as low: a write towards AP took it as done."""
    _firmware(lab_chip, firmware)
    g = np.full((25, 25), 2e-4)
    g[3, 4] = np.nan
    before = _sent(lab_chip)
    with pytest.raises(InvalidRequest, match=r"step 2 \(KnownMap\).*NaN"):
        run_sequence(lab_chip, 3, [*HEAD, KnownMap(0.1, g), WriteAll(AP)])
    assert _sent(lab_chip) == before


def test_a_known_map_holding_nan_is_refused_by_the_simulated_die():
    from mtj_hil.sim import SimulatedChip

    chip = SimulatedChip.from_lot("1t1r-20k", 0, 0)
    g = np.full((25, 25), 2e-4)
    g[0, 0] = np.nan
    with pytest.raises(InvalidRequest, match=r"step 1 \(KnownMap\).*NaN"):
        run_sequence(chip, 0, [PulseAll(AP, Pulse(1.0, 1e-6)), KnownMap(0.1, g), WriteAll(AP)])
    assert chip.program_calls == 0
