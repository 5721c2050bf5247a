"""Board-side sequences (firmware 1.3, docs/chip-protocol.md section 10): the driver against
the virtual board, the documented examples, and what happens when things go wrong."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.instruments.controller import (
    MAX_REPLY_BYTES,
    ChipController,
    ControllerError,
    crc8,
    decode_frame,
    encode_frame,
)
from mtj_hil.instruments.controller.sequence import (
    CheckMask,
    Decide,
    Enable,
    Integration,
    Known,
    PulseStep,
    Range,
    Scan,
    WriteVerify,
    decode_step,
    encode_step,
    parse_dat,
)
from mtj_hil.instruments.errors import InstrumentError, InstrumentStateLost, SafetyViolation
from mtj_hil.sim.lab.board import VirtualBoard
from mtj_hil.sim.lab.server import DropConnection, LineServer

from .conftest import BENCH_ENVELOPE, sequence_board

DOC = Path(__file__).resolve().parents[3] / "docs" / "chip-protocol.md"
EVERY = tuple(range(25))


def _send(board: VirtualBoard, verb: str, seq: int, *args: str) -> list[bytes]:
    reply = board.handle(encode_frame(verb, seq, args, max_bytes=4096)[:-1])
    return [] if reply is None else reply.splitlines()


def _threshold(fs: float = 1e-4, volts: float = 0.1) -> int:
    g = np.sqrt(1 / 4292 / 7519)  # nominal P / AP midpoint (S)
    return int(np.floor(g * volts / (2 * fs / 4096))) + 2048


# --- the documented examples -------------------------------------------------------------


def _doc_frames() -> list[tuple[str, bytes]]:
    out = []
    for line in DOC.read_text().splitlines():
        m = re.match(r"^([<>]) (\S.*?\*[0-9A-F]{2})(\s|$)", line)
        if m and not line.startswith("> (LF)"):
            out.append((m.group(1), m.group(2).encode()))
    return out


def test_every_example_frame_of_the_protocol_document_has_a_valid_checksum():
    frames = _doc_frames()
    assert len(frames) > 60 and any(f.startswith(b"DAT ") for _, f in frames)
    for _, frame in frames:
        decode_frame(frame + b"\n", max_bytes=4096)  # raises on a bad CRC or grammar


def test_the_inline_example_frames_and_the_check_value_hold():
    """The frames quoted inside the text (``e.g. SEL 03 7*16``), not only the transcripts,
    and the CRC check value of section 2."""
    text = DOC.read_text()
    inline = re.findall(r"e\.g\.\s+(\S.*?\*[0-9A-F]{2})\s*$", text, flags=re.MULTILINE)
    assert len(inline) >= 3
    for frame in inline:
        decode_frame(frame.encode() + b"\n")
    check = re.search(r"CRC of the ASCII string\s+`(\w+)` is `([0-9A-F]{2})`", text)
    assert check is not None and crc8(check.group(1).encode()) == int(check.group(2), 16)


def test_the_codes_quoted_under_the_first_sequence_example_are_its_frames():
    """Section 10.5 explains its first run by the first code of each frame: the numbers
    must be those of the frames shown."""
    text = DOC.read_text()
    sec = text[text.index("### 10.5 Examples") :]
    codes = [
        int(m.group(1), 16)
        for m in re.finditer(r"^< DAT 12 k=\d .* codes=([0-9A-F]{3})", sec, re.MULTILINE)
    ]
    quoted = re.search(r"code 0x([0-9A-F]{3}) = (\d+),.*?after the pulse 0x([0-9A-F]{3}) = (\d+)",
                       sec, re.DOTALL)  # fmt: skip
    assert quoted is not None and len(codes) == 4  # the run and its replay
    first, first_dec, after, after_dec = quoted.groups()
    assert [int(first, 16), int(after, 16)] == codes[:2] == codes[2:]
    assert (int(first_dec), int(after_dec)) == tuple(codes[:2])
    lsb = 2 * 1e-4 / 4096
    amps = re.search(r"= ([\d.]+) uA at 0\.1 V,\s+a P device of (\d+) uS", sec)
    assert amps is not None
    assert float(amps.group(1)) == round((codes[0] - 2048) * lsb * 1e6, 1)
    assert int(amps.group(2)) == round((codes[0] - 2048) * lsb / 0.1 * 1e6)
    after_ua = re.search(r"after the pulse 0x[0-9A-F]{3} = \d+, ([\d.]+) uA", sec)
    assert after_ua is not None
    assert float(after_ua.group(1)) == round((codes[1] - 2048) * lsb * 1e6, 1)


@pytest.mark.parametrize(
    ("section", "firmware"),
    [
        ("### 10.5 Examples", "1.3.0"),
        ("### 10.6 Example: decisions", "1.3.0"),
        ("### 10.7 Threshold maps (firmware 1.4)", "1.4.0"),
    ],
)
def test_the_section_10_transcripts_are_what_the_virtual_board_answers(section, firmware):
    text = DOC.read_text()
    sec = text[text.index(section) :]
    sec = sec[: sec.index("\n### ", 5)] if "\n### " in sec[5:] else sec
    lines = [(d, f) for d, f in _doc_frames() if f in sec.encode()]
    assert len(lines) >= 10
    board = sequence_board(firmware)
    for verb, seq, args in (("SYNC", 0, ()), ("IDN", 1, ()), ("LIM", 2, ()), ("SEL", 3, ("7",))):
        _send(board, verb, seq, *args)
    replies: list[bytes] = []
    for direction, frame in lines:
        if direction == ">":
            assert not replies, f"unanswered lines before {frame!r}: {replies}"
            if frame.startswith(b"SEQ 1A RUN"):
                board.faults.abort_run_at_step = 2
            got = board.handle(frame)
            replies = [] if got is None else got.splitlines()
        else:
            assert replies and replies.pop(0) == frame
    assert not replies


# --- steps --------------------------------------------------------------------------------


def test_steps_round_trip_through_their_tokens():
    steps = [
        Enable((0, 3, 24), EVERY),
        Range(1e-4),
        PulseStep("NEG", 0.95, 2e-7),
        Scan(0.3),
        Known(0.1, tuple(bool(i % 3) for i in range(625))),
        WriteVerify("POS", 1e-6, 0.1, True, (1.0, 1.05), tuple(range(2000, 2025))),
        WriteVerify("NEG", 2e-7, 0.2, False, (0.9,), (2100,) * 25, decide=True),
        Integration(5e-5),
        Decide(0.1, tuple(range(2000, 2025))),
        CheckMask(tuple(bool(i % 7) for i in range(625))),
    ]
    for step in steps:
        assert decode_step(encode_step(step, 25, 25), 25, 25) == step


def test_a_sequence_leaving_the_envelope_is_refused_whole_before_upload(lab):
    board, ctrl = lab
    ctrl.envelope = BENCH_ENVELOPE
    ctrl.select_array(0)
    frames = board.frames
    steps = [Enable(EVERY, EVERY), PulseStep("POS", 1.0, 1e-6), Scan(0.1)]
    bad = [*steps, WriteVerify("POS", 1e-6, 0.1, True, (1.0, 1.1, 1.25), (2400,) * 25)]
    with pytest.raises(SafetyViolation, match=r"step 3 \(WriteVerify\).*1.25"):
        ctrl.run_sequence(bad)
    with pytest.raises(SafetyViolation, match=r"step 2 \(Scan\)"):
        ctrl.run_sequence([*steps[:2], Scan(0.5)])
    assert board.frames == frames  # nothing went out
    assert len(ctrl.run_sequence(steps)) == 1


def test_a_run_streams_one_frame_per_scan_and_writes_as_the_host_would(lab):
    board, ctrl = lab
    ctrl.select_array(2)
    thr = _threshold()
    steps = [
        Enable(EVERY, EVERY),
        Range(1e-4),
        PulseStep("NEG", 1.0, 1e-6),  # all AP
        WriteVerify("POS", 1e-6, 0.1, True, (1.0, 1.05, 1.1), (thr,) * 25),
        Scan(0.1),
    ]
    before = len(board.pulses)
    out = ctrl.run_sequence(steps)
    rounds = [r.round for r in out if r.step == 3]
    assert rounds[0] == 0 and rounds[1:] == list(range(1, len(rounds)))  # initial check first
    assert len(board.pulses) - before == 1 + len(rounds) - 1
    final = out[-1].codes > thr
    die = board.die
    good = die.defect[2] == 0
    assert final[good].mean() > 0.99 and (final == die.state[2]).mean() > 0.99


def test_a_retried_run_is_replayed_not_run_again(lab):
    board, ctrl = lab
    ctrl.select_array(1)
    steps = [Enable(EVERY, EVERY), PulseStep("POS", 1.0, 1e-6), Scan(0.1)]
    first = ctrl.run_sequence(steps)
    pulses = len(board.pulses)
    board.faults.lose_reply_of = "SEQ RUN"  # the run executes, its frames are lost on the wire
    again = ctrl.run_sequence(steps)
    assert len(board.pulses) == pulses + 1  # the retry was answered from the replay memory
    assert again[0].codes.shape == first[0].codes.shape


def test_the_board_refuses_bad_steps_atomically_and_runs_that_outlast_t_seqmax():
    board = sequence_board()
    _send(board, "SEL", 1, "0")
    _send(board, "SEQ", 2, "NEW")
    ok = _send(board, "SEQ", 3, "ADD", "E:0000001:1FFFFFF")[0]
    assert ok.startswith(b"OK 03 SEQ ADD n=1*")
    bad = _send(board, "SEQ", 4, "ADD", "S:0.100", "P:POS:3.400:1.000e-06")[0]
    assert bad.startswith(b"ERR 04 E05 step 2: amplitude 3.400 V")
    assert _send(board, "SEQ", 5, "ADD", "X:1")[0].startswith(b"ERR 05 E03 step 1")
    # a write-verify's own width is a width on the wire, whether or not a round uses it
    thr = "968" * 25
    wide = f"W:POS:1.000e+00:0.100:H:1.000/1.000e-06:{thr}"
    assert _send(board, "SEQ", 12, "ADD", wide)[0].startswith(b"ERR 0C E05 step 1: width")
    # a line the board does not have is E04, a mask of the wrong width E03 (section 10.1)
    assert _send(board, "SEQ", 13, "ADD", "E:2000000:1FFFFFF")[0].startswith(b"ERR 0D E04 step 1")
    assert _send(board, "SEQ", 14, "ADD", "E:000001:1FFFFFF")[0].startswith(b"ERR 0E E03 step 1")
    assert _send(board, "SEQ", 6, "ADD", "S:0.100")[0].startswith(b"OK 06 SEQ ADD n=2*")
    for seq in (7, 17):
        assert b" n=" in _send(board, "SEQ", seq, "ADD", *["S:0.100"] * 40)[0]
    reply = _send(board, "SEQ", 8, "RUN")  # 81 scans of one row: 1.5 s
    assert len(reply) == 82 and reply[-1].startswith(b"OK 08 SEQ RUN steps=82 dat=81")
    _send(board, "SEQ", 9, "NEW")
    for seq in (10, 20):  # 80 scans of every row: 80 x 0.42 s
        _send(board, "SEQ", seq, "ADD", "E:1FFFFFF:1FFFFFF", *["S:0.100"] * 40)
    pulses, reads = len(board.pulses), board.conversions
    reply = _send(board, "SEQ", 11, "RUN")
    assert len(reply) == 1 and reply[0].startswith(b"ERR 0B E05 sequence may take")
    assert (len(board.pulses), board.conversions) == (pulses, reads)  # nothing applied


def test_a_board_before_firmware_1_3_knows_no_seq_and_the_driver_does_not_send_it():
    board = sequence_board("1.2.0")
    assert _send(board, "SEQ", 1, "NEW")[0].startswith(b"ERR 01 E02")
    server = LineServer(board.handle, encoding=None, name="old-board").start()
    try:
        with ChipController(server.url) as ctrl:
            assert not ctrl.has_sequences
            frames = board.frames
            with pytest.raises(InstrumentError, match="has no sequences"):
                ctrl.run_sequence([Scan(0.1)])
            assert board.frames == frames
    finally:
        server.stop()


def _assert_safe(board: VirtualBoard) -> None:
    s = board._state
    assert s.route == "OFF" and s.array is None
    assert not s.rows.any() and not s.cols.any() and not s.vread.any()


def test_an_abort_mid_run_leaves_the_board_safe_and_the_host_told(lab):
    board, ctrl = lab
    ctrl.select_array(3)
    steps = [Enable(EVERY, EVERY), Scan(0.1), PulseStep("POS", 1.0, 1e-6), Scan(0.1)]
    board.faults.abort_run_at_step = 2
    pulses = len(board.pulses)
    with pytest.raises(ControllerError, match="E10") as info:
        ctrl.run_sequence(steps)
    assert info.value.code == "E10"
    assert len(board.pulses) == pulses  # stopped before the pulse
    _assert_safe(board)
    assert ctrl.status().route == "OFF"


def test_a_link_lost_mid_run_leaves_the_board_safe():
    board = sequence_board()
    _send(board, "SEL", 1, "0")
    _send(board, "SEQ", 2, "NEW")
    _send(board, "SEQ", 3, "ADD", "E:1FFFFFF:1FFFFFF", "P:POS:1.000:1.000e-06", "S:0.100")
    board.faults.drop_run_at_step = 1
    with pytest.raises(DropConnection):
        board.handle(encode_frame("SEQ", 4, ("RUN",))[:-1])
    _assert_safe(board)


def test_decisions_tell_the_sides_and_short_integrations_cost_less(lab):
    board, ctrl = lab
    ctrl.select_array(5)
    thr = (_threshold(),) * 25
    base = [Enable(EVERY, EVERY), Range(1e-4), Scan(0.1)]
    t0 = board.clock.now
    precise = ctrl.run_sequence([*base, Decide(0.1, thr)])
    t1 = board.clock.now
    quick = ctrl.run_sequence([*base, Integration(1e-5), Decide(0.1, thr)])
    t2 = board.clock.now
    codes = precise[0].codes
    far = np.abs(codes - thr[0]) > 40  # cells far from the threshold (> 2 uA)
    assert precise[1].high.shape == (25, 25)
    np.testing.assert_array_equal(precise[1].high[far], (codes > thr[0])[far])
    np.testing.assert_array_equal(quick[1].high[far], (codes > thr[0])[far])
    decide_1plc = (t1 - t0) - (t2 - t1)  # same scan before, only the decision differs
    assert decide_1plc > 25 * (1 / 60 - 1e-5) * 0.9


def test_a_check_mask_keeps_stuck_cells_from_forcing_every_round(lab):
    board, ctrl = lab
    ctrl.select_array(0)
    die = board.die
    stuck_ap = np.argwhere(die.defect[0] == 4)  # STUCK_AP: never reads P
    assert len(stuck_ap)
    thr = (_threshold(),) * 25
    to_p = WriteVerify("POS", 1e-6, 0.1, True, (1.0, 1.05, 1.1), thr, decide=True)
    steps = [Enable(EVERY, EVERY), Range(1e-4), PulseStep("NEG", 1.0, 1e-6), to_p]
    rounds_all = max(r.round for r in ctrl.run_sequence(steps))
    check = np.ones((25, 25), bool)
    check[tuple(stuck_ap.T)] = False
    check[die.defect[0] == 1] = False  # shorts read P anyway; opens read AP
    check[die.defect[0] == 2] = False
    masked = [*steps[:3], CheckMask(tuple(check.ravel())), to_p]
    rounds_masked = max(r.round for r in ctrl.run_sequence(masked))
    assert rounds_all == 3 and rounds_masked == 1


def test_a_board_that_resets_mid_run_is_seen_by_the_host_and_left_safe(lab):
    board, ctrl = lab
    ctrl.select_array(2)
    steps = [Enable(EVERY, EVERY), Scan(0.1), PulseStep("POS", 1.0, 1e-6), Scan(0.1)]
    board.faults.reset_run_at_step = 2
    # no reply; the resync finds a board that remembers nothing: it says so, and does not
    # send the run again to a board without an array (which would answer E06)
    with pytest.raises(InstrumentStateLost, match="board reset itself during SEQ RUN"):
        ctrl.run_sequence(steps)
    _assert_safe(board)
    assert ctrl.status().flags & 0x08  # flag bit 3: the board's watchdog reset it


def test_an_empty_sequence_sends_no_byte_and_returns_no_scan(lab, monkeypatch):
    board, ctrl = lab
    sent: list[bytes] = []
    write = ctrl._conn.write
    monkeypatch.setattr(ctrl._conn, "write", lambda data: sent.append(bytes(data)) or write(data))
    frames = board.frames
    assert ctrl.run_sequence([]) == []  # no array selected: SEQ RUN would have drawn E06
    assert sent == [] and board.frames == frames


def _sent_by_board(board: VirtualBoard) -> list:
    """The scans of the reply the board keeps for a replay (intact, as it sent them)."""
    lines = board._replay[1].splitlines()
    dat = [decode_frame(x + b"\n", MAX_REPLY_BYTES) for x in lines if x[:4] == b"DAT "]
    return [parse_dat(f.args, 25, 12) for f in dat]


@pytest.mark.parametrize("fault", ["duplicated", "dropped", "swapped"])
def test_a_dat_frame_damaged_once_on_the_wire_is_asked_again_not_run_again(lab, fault):
    board, ctrl = lab
    ctrl.select_array(1)
    steps = [Enable(EVERY, EVERY), Scan(0.1), PulseStep("POS", 1.0, 1e-6), Scan(0.1)]
    pulses, frames = len(board.pulses), board.frames
    board.faults.dat_fault = fault
    out = ctrl.run_sequence(steps)
    assert board.faults.dat_fault is None  # the fault did happen, once
    assert board.frames - frames == 5  # SEQ NEW, ADD, RUN, then SYNC and RUN again
    assert len(board.pulses) == pulses + 1  # the retry was answered from the replay memory
    sent = _sent_by_board(board)
    assert [(r.index, r.step) for r in out] == [(0, 1), (1, 3)]
    for got, want in zip(out, sent, strict=True):
        np.testing.assert_array_equal(got.codes, want.codes)


@pytest.mark.parametrize(
    ("fault", "message"),
    [("duplicated", "received 3 DAT frames"), ("swapped", "out of order")],
)
def test_a_stream_damaged_on_every_try_fails_clearly_after_the_retries(lab, fault, message):
    board, ctrl = lab
    ctrl.select_array(1)
    steps = [Enable(EVERY, EVERY), Scan(0.1), PulseStep("POS", 1.0, 1e-6), Scan(0.1)]
    pulses = len(board.pulses)
    board.faults.dat_fault, board.faults.dat_fault_replies = fault, ctrl.retries + 1
    with pytest.raises(InstrumentError, match=f"after 3 tries.*{message}"):
        ctrl.run_sequence(steps)
    assert len(board.pulses) == pulses + 1  # run once, replayed on every retry
    assert ctrl.run_sequence([Scan(0.1)])[0].codes.shape == (25, 25)  # the link recovers
