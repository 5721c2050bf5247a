"""Threshold maps (firmware 1.4, docs/chip-protocol.md section 10.7): the driver against the
virtual board. Each cell decided against its own code, the map sent once per board state,
and every way a map step could go wrong stopped before a pulse."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtj_hil.instruments.controller import (
    ChipController,
    ControllerError,
    encode_codes,
    encode_frame,
)
from mtj_hil.instruments.controller.sequence import (
    Decide,
    Enable,
    Integration,
    PulseStep,
    Range,
    SequenceRefused,
    decode_step,
    encode_step,
)
from mtj_hil.sim import load_profile
from mtj_hil.sim.die import make_die
from mtj_hil.sim.lab.board import VirtualBoard
from mtj_hil.sim.lab.board_setup import ReadPathImperfections
from mtj_hil.sim.lab.server import LineServer

from .conftest import BENCH_ENVELOPE

ROWS = COLS = 25
EVERY = tuple(range(25))
FS, VOLTS, LSB = 1e-4, 0.1, 2 * 1e-4 / 4096


def _board(firmware: str = "1.4.0", profile: str = "1t1r-low-tmr") -> VirtualBoard:
    die = make_die(load_profile(profile), 0, 0)
    return VirtualBoard(die, imperfections=ReadPathImperfections.ideal(), firmware=firmware)


@pytest.fixture
def served() -> Iterator[tuple[VirtualBoard, ChipController, list[str]]]:
    """``(board, driver, verbs)``: a firmware 1.4 board with a low-TMR die on loopback, the
    driver connected, and every ``VERB SUB`` the board receives from here on."""
    board = _board()
    verbs: list[str] = []
    real = board.handle

    def handle(line: bytes) -> bytes | None:
        words = line.split(b"*")[0].decode().split(" ")
        verbs.append(" ".join(words[:1] + words[2:3]))
        return real(line)

    server = LineServer(handle, encoding=None, name="map-board").start()
    ctrl = ChipController(server.url, timeout=0.5)
    ctrl.envelope = BENCH_ENVELOPE
    try:
        yield board, ctrl, verbs
    finally:
        ctrl.close()
        server.stop()


def _midpoint_codes(board: VirtualBoard, array: int) -> tuple[int, ...]:
    """Each cell's code midway between its true P and AP currents (ideal read path)."""
    die = board.die
    g = 0.5 * (1 / die.r_p[array] + 1 / die.r_ap[array])
    return tuple(int(c) for c in (np.floor(g * VOLTS / LSB) + 2048).ravel())


def _decide(threshold: tuple[int, ...] | None) -> list:
    every = Enable(EVERY, EVERY)
    return [every, Range(FS), Integration(1e-3), Decide(VOLTS, threshold)]


def _good(board: VirtualBoard, array: int) -> np.ndarray:
    return board.die.defect[array] == 0


def test_cells_are_decided_against_their_own_codes_where_a_line_code_cannot(served):
    """On a low-TMR die the levels of one line overlap from cell to cell: the best one code
    per line misjudges cells, the map none."""
    board, ctrl, _ = served
    ctrl.identify()
    ctrl.select_array(3)
    truth = board.die.state[3].copy()  # True: P (reads high)
    good = _good(board, 3)
    codes = np.array(_midpoint_codes(board, 3)).reshape(ROWS, COLS)
    (by_map,) = ctrl.run_sequence(_decide(None), threshold_map=tuple(codes.ravel()))
    assert np.array_equal(by_map.high[good], truth[good])
    line = tuple(int(c) for c in np.median(codes, axis=0))
    (by_line,) = ctrl.run_sequence(_decide(line))
    assert (by_line.high[good] != truth[good]).sum() >= 5


def test_the_map_is_sent_once_and_again_after_a_reset_or_a_change(served):
    board, ctrl, verbs = served
    ctrl.identify()
    ctrl.select_array(0)
    codes = _midpoint_codes(board, 0)
    start = len(verbs)
    ctrl.run_sequence(_decide(None), threshold_map=codes)
    sent = verbs[start:].count("SEQ MAP")
    assert sent == 4  # 625 codes, at most 164 a frame
    ctrl.run_sequence(_decide(None), threshold_map=codes)
    assert verbs[start:].count("SEQ MAP") == sent  # held: not sent again
    ctrl.reset()  # RST clears the board's map
    ctrl.select_array(0)
    ctrl.run_sequence(_decide(None), threshold_map=codes)
    assert verbs[start:].count("SEQ MAP") == 2 * sent
    other = tuple(c + 1 for c in codes)
    ctrl.run_sequence(_decide(None), threshold_map=other)
    assert verbs[start:].count("SEQ MAP") == 3 * sent
    assert np.array_equal(board._state.thr_map, other)


def test_a_failed_run_clears_the_map_and_the_driver_sends_it_again(served):
    board, ctrl, verbs = served
    ctrl.identify()
    ctrl.select_array(0)
    codes = _midpoint_codes(board, 0)
    ctrl.run_sequence(_decide(None), threshold_map=codes)
    board.faults.abort_run_at_step = 3
    with pytest.raises(ControllerError, match="E10"):
        ctrl.run_sequence([*_decide(None), PulseStep("NEG", 1.0, 1e-6)], threshold_map=codes)
    assert board._state.thr_map is None  # the board's safe state holds no map
    ctrl.select_array(0)
    start = len(verbs)
    (frame,) = ctrl.run_sequence(_decide(None), threshold_map=codes)
    assert verbs[start:].count("SEQ MAP") == 4 and frame.high is not None


@pytest.mark.parametrize(
    ("firmware", "threshold_map", "reason"),
    [
        ("1.3.0", "whole", "needs firmware 1.4"),
        ("1.4.0", None, "no map was given"),
        ("1.4.0", "short", "needs 625 codes, got 624"),
        ("1.4.0", "too big", "must lie in 0..4095"),
    ],
)
def test_a_map_step_that_cannot_run_is_refused_before_a_byte_goes_out(
    firmware, threshold_map, reason
):
    board = _board(firmware)
    pulses_before = len(board.pulses)
    received: list[bytes] = []
    real = board.handle
    server = LineServer(lambda b: received.append(b) or real(b), encoding=None).start()
    ctrl = ChipController(server.url, timeout=0.5)
    ctrl.envelope = BENCH_ENVELOPE
    try:
        ctrl.identify()
        ctrl.select_array(0)
        codes = list(_midpoint_codes(board, 0))
        given = {
            "whole": codes,
            None: None,
            "short": codes[:-1],
            "too big": [*codes[:-1], 4096],
        }[threshold_map]
        steps = [*_decide(None)[:3], PulseStep("POS", 1.0, 1e-6), Decide(VOLTS, None)]
        sent = len(received)
        with pytest.raises(SequenceRefused, match=reason) as info:
            ctrl.run_sequence(steps, threshold_map=None if given is None else tuple(given))
        assert info.value.index == 4  # the decision, named
        assert len(received) == sent and len(board.pulses) == pulses_before
    finally:
        ctrl.close()
        server.stop()


def _frame(board: VirtualBoard, seq: int, *args: str) -> str:
    reply = board.handle(encode_frame("SEQ", seq, args, max_bytes=4096)[:-1])
    return b"" if reply is None else reply.decode()


def test_a_1_3_board_knows_neither_seq_map_nor_t_thresholds():
    board = _board("1.3.0")
    assert " E03 " in _frame(board, 1, "MAP", "0", "800")
    assert " E03 " in _frame(board, 2, "ADD", "D:0.100:T")


def test_the_board_refuses_a_run_whose_map_lacks_a_cell_and_applies_nothing():
    """A map set for row 0 only, and a run enabling every line: E06 naming the step and
    the first cell without a code, before the pulse that comes first."""
    board = _board()
    board.handle(encode_frame("SEL", 3, ("0",))[:-1])
    assert "n=25" in _frame(board, 4, "MAP", "0", encode_codes([2400] * 25))
    _frame(board, 5, "NEW")
    tokens = ["E:1FFFFFF:1FFFFFF", "P:POS:1.000:1.000e-06", "D:0.100:T"]
    assert "n=3" in _frame(board, 6, "ADD", *tokens)
    pulses = len(board.pulses)
    reply = _frame(board, 7, "RUN")
    assert " E06 step 2 compares cell 25 " in reply
    assert len(board.pulses) == pulses
    assert "steps=0" not in reply and "DAT" not in reply


@pytest.mark.parametrize(
    "text",
    ["D:0.100:T", "V:POS:1.000e-06:0.100:H:1.000,1.100:T", "W:NEG:1.000e-06:0.100:L:1.000:T"],
)
def test_t_thresholds_round_trip_through_their_tokens(text):
    step = decode_step(text, ROWS, COLS)
    assert step.thresholds is None
    assert encode_step(step, ROWS, COLS) == text


@settings(max_examples=150, deadline=None)
@given(
    start=st.one_of(st.integers(-5, 700).map(str), st.text("0123456789-+x ", max_size=4)),
    codes=st.text("0123456789ABCDEFabcdefXYZ:*", max_size=40),
)
def test_any_seq_map_frame_is_answered_and_a_refused_one_sets_nothing(start, codes):
    board = _board()
    before = None if board._state.thr_map is None else board._state.thr_map.copy()
    args = tuple(a for a in ("MAP", start, codes) if a)
    try:
        frame = encode_frame("SEQ", 9, args, max_bytes=4096)
    except Exception:  # noqa: BLE001 - a frame the grammar cannot carry: nothing to send
        return
    reply = board.handle(frame[:-1])
    assert reply is not None
    text = reply.decode()
    if text.startswith("OK "):
        n = int(text.split("n=")[1].split("*")[0])
        assert 0 < n <= 625 and board._state.thr_map is not None
    else:
        assert text.split(" ")[2] in ("E01", "E03", "E04"), text
        now = board._state.thr_map
        assert (before is None and now is None) or np.array_equal(before, now)
