"""Firmware 1.3 sequences under faults the other tests leave out: a board reset at each point
of a run (before it starts, in its first and last step, in the middle of a frame, during the
final frame), a host watchdog between runs, frames damaged on the wire in other ways (bad
checksum, cut short, another sequence number), and a board whose frames do not fit the
steps it was sent (a clear error, not a crash of the code reading them)."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.controller import (
    MAX_REPLY_BYTES,
    HostWatchdogFired,
    decode_frame,
    encode_frame,
)
from mtj_hil.instruments.controller.sequence import (
    Decide,
    Enable,
    PulseStep,
    Range,
    Scan,
    WriteVerify,
)
from mtj_hil.instruments.errors import InstrumentError, InstrumentStateLost
from mtj_hil.sim.lab.board import VirtualBoard

EVERY = tuple(range(25))
ONE_ROW = [Enable((0,), EVERY), Scan(0.1), PulseStep("POS", 1.0, 1e-6), Scan(0.1)]
"""Steps 0..3: one row enabled, so a run (and a host's wait for a lost one) is short."""


def _assert_safe(board: VirtualBoard) -> None:
    s = board._state
    assert s.route == "OFF" and s.array is None
    assert not s.rows.any() and not s.cols.any() and not s.vread.any()


def _on_run_reply(board: VirtualBoard, change, times: int = 1) -> None:
    """Pass the reply to the next ``times`` ``SEQ RUN`` frames through ``change(reply)``
    (after the board executed it; ``change`` may reset the board)."""
    real, left = board._answer, [times]

    def answer(line: bytes):
        reply, extra, n_out = real(line)
        if b" RUN*" in line and left[0] > 0:
            left[0] -= 1
            reply = change(reply)
        return reply, extra, n_out

    board._answer = answer


def _reset_then(cut):
    def change(board: VirtualBoard):
        def apply(reply: bytes) -> bytes:
            board._power_up()  # after the run: the board's own watchdog resets it
            return cut(reply)

        return apply

    return change


def _lines(reply: bytes) -> list[bytes]:
    return reply.splitlines(keepends=True)


RESETS = {
    "during the final frame": lambda r: r[: r.rfind(b"OK ")],
    "in the middle of a frame": lambda r: r[: len(_lines(r)[0]) + 30] + b"\n",
    "between two frames": lambda r: _lines(r)[0],
}


@pytest.mark.parametrize("where", list(RESETS))
def test_a_board_reset_late_in_a_run_is_seen_and_leaves_it_safe(lab, where):
    board, ctrl = lab
    ctrl.select_array(2)
    _on_run_reply(board, _reset_then(RESETS[where])(board))
    with pytest.raises(InstrumentStateLost, match="board reset itself during SEQ RUN"):
        ctrl.run_sequence(ONE_ROW)
    _assert_safe(board)
    ctrl.select_array(2)  # power-cycled or not, the host carries on: uploads and runs again
    assert [r.step for r in ctrl.run_sequence(ONE_ROW)] == [1, 3]


@pytest.mark.parametrize("step", [0, len(ONE_ROW) - 1])
def test_a_board_reset_in_the_first_or_last_step_is_seen_and_leaves_it_safe(lab, step):
    board, ctrl = lab
    ctrl.select_array(2)
    pulses = len(board.pulses)
    board.faults.reset_run_at_step = step
    with pytest.raises(InstrumentStateLost, match="board reset itself during SEQ RUN"):
        ctrl.run_sequence(ONE_ROW)
    _assert_safe(board)
    assert len(board.pulses) - pulses == (step > 2)  # the pulse is step 2


def test_a_board_reset_between_upload_and_run_is_named_not_reported_as_no_array(lab):
    board, ctrl = lab
    ctrl.select_array(4)
    real = board._cmd_seq

    def seq(args):
        out = real(args)
        if args[:1] == ("ADD",):
            board._power_up()  # reset after the upload, before SEQ RUN arrives
        return out

    board._cmd_seq = seq
    pulses = len(board.pulses)
    with pytest.raises(InstrumentStateLost, match="no longer held array 4 .* reset itself"):
        ctrl.run_sequence(ONE_ROW)
    assert len(board.pulses) == pulses
    _assert_safe(board)
    board._cmd_seq = real
    ctrl.select_array(4)
    assert len(ctrl.run_sequence(ONE_ROW)) == 2


def test_a_host_watchdog_that_fired_before_a_run_is_named(lab):
    board, ctrl = lab
    ctrl.select_array(1)
    ctrl.run_sequence(ONE_ROW)  # leaves the ADC route held
    board.clock.advance(board.watchdog_s + 1)  # the host is silent past t_watchdog
    pulses = len(board.pulses)
    with pytest.raises(HostWatchdogFired, match="host watchdog fired"):
        ctrl.run_sequence(ONE_ROW)  # from the buffer: SEQ RUN alone
    assert len(board.pulses) == pulses
    _assert_safe(board)


def test_a_run_refused_for_no_array_the_host_never_selected_stays_that_error(lab):
    """Only an array the host did select and the board lost is reported as a reset."""
    board, ctrl = lab
    with pytest.raises(InstrumentError, match="E06.*no array selected"):
        ctrl.run_sequence(ONE_ROW)


def _per_frame(change):
    """A reply change that re-encodes every frame of the reply after ``change(verb, seq,
    args)``."""

    def apply(reply: bytes) -> bytes:
        out = []
        for line in _lines(reply):
            f = decode_frame(line, MAX_REPLY_BYTES)
            verb, seq, args = change(f.verb, f.seq, list(f.args))
            out.append(encode_frame(verb, seq, args, max_bytes=MAX_REPLY_BYTES))
        return b"".join(out)

    return apply


def _second_line(change):
    def apply(reply: bytes) -> bytes:
        lines = _lines(reply)
        lines[1] = change(lines[1])
        return b"".join(lines)

    return apply


ONCE = {
    "a bad checksum": _second_line(lambda x: x[:-4] + (b"00\n" if x[-4:-1] != b"00" else b"01\n")),
    "a frame cut short": _second_line(lambda x: x[:40] + b"\n"),
    "another sequence number": _per_frame(
        lambda v, s, a: (v, (s + 1) & 0xFF if v == "DAT" else s, a)
    ),
}


@pytest.mark.parametrize("damage", list(ONCE))
def test_a_frame_damaged_once_is_asked_again_and_the_run_not_repeated(lab, damage):
    board, ctrl = lab
    ctrl.select_array(1)
    first = ctrl.run_sequence(ONE_ROW)
    ctrl.select_array(1)
    pulses = len(board.pulses)
    _on_run_reply(board, ONCE[damage])
    out = ctrl.run_sequence(ONE_ROW)
    assert len(board.pulses) == pulses + 1  # the retry was a replay
    assert [(r.index, r.step) for r in out] == [(r.index, r.step) for r in first]
    assert out[0].codes.shape == (1, 25)


def _renumbered(keep):
    """Keep the DAT frames for which ``keep(args)`` holds, renumbered so that ``k`` and the
    final ``dat=`` still add up (a board whose stream is consistent, but not with its steps)."""

    def apply(reply: bytes) -> bytes:
        frames = [decode_frame(x, MAX_REPLY_BYTES) for x in _lines(reply)]
        dat = [f for f in frames[:-1] if keep(f.args)]
        out = [
            encode_frame("DAT", f.seq, [f"k={i}", *f.args[1:]], max_bytes=MAX_REPLY_BYTES)
            for i, f in enumerate(dat)
        ]
        last = frames[-1]
        args = [f"dat={len(dat)}" if a.startswith("dat=") else a for a in last.args]
        return b"".join([*out, encode_frame(last.verb, last.seq, args)])

    return apply


def _field(name: str, old: str, new: str):
    return _per_frame(
        lambda v, s, a: (v, s, [f"{name}={new}" if x == f"{name}={old}" else x for x in a])
    )


def _two_rows(field: str) -> str:
    """A one-row DAT field as a two-row frame's (the row repeated)."""
    name, _, value = field.partition("=")
    return {"n": "n=2", "rng": f"rng={value * 2}", "codes": f"codes={value * 2}"}.get(name, field)


MISFIT = {
    "a frame naming a step that makes no scan": (_field("step", "3", "2"), "PulseStep"),
    "a frame naming a step the run does not have": (_field("step", "3", "9"), "no step"),
    "a scan left without its frame": (_renumbered(lambda a: "step=3" not in a), "step 3"),
    "a scan with two frames": (_field("step", "3", "1"), "not the next scan"),
    "a frame of more rows than enabled": (
        _per_frame(lambda v, s, a: (v, s, [_two_rows(x) for x in a])),
        "scans 2 rows, not the 1 enabled",
    ),
}


@pytest.mark.parametrize("misfit", list(MISFIT))
def test_frames_that_do_not_fit_the_steps_sent_fail_clearly(lab, misfit):
    board, ctrl = lab
    change, message = MISFIT[misfit]
    ctrl.select_array(1)
    _on_run_reply(board, change, times=ctrl.retries + 1)
    with pytest.raises(InstrumentError, match=f"after 3 tries.*{message}"):
        ctrl.run_sequence(ONE_ROW)


def test_decision_bits_where_codes_are_due_fail_clearly(lab):
    board, ctrl = lab
    thr = (2400,) * 25
    steps = [Enable((0,), EVERY), Range(1e-4), Decide(0.1, thr), Scan(0.1)]

    def swap(reply: bytes) -> bytes:  # the scan's frame sent as a decision's
        lines = _lines(reply)
        bits = decode_frame(lines[0], MAX_REPLY_BYTES).args[-1]
        scan = decode_frame(lines[1], MAX_REPLY_BYTES)
        args = [*scan.args[:3], "n=1", bits]
        lines[1] = encode_frame("DAT", scan.seq, args, max_bytes=MAX_REPLY_BYTES)
        return b"".join(lines)

    ctrl.select_array(1)
    assert [r.high is not None for r in ctrl.run_sequence(steps)] == [True, False]
    _on_run_reply(board, swap, times=ctrl.retries + 1)
    with pytest.raises(InstrumentError, match="after 3 tries.*k=1 .*carries bits"):
        ctrl.run_sequence(steps)


def test_write_verify_rounds_may_start_at_1_and_stop_early(lab):
    """What a write-verify may legitimately send: no initial scan after a scan at its voltage,
    and fewer rounds than amplitudes once every cell verifies."""
    board, ctrl = lab
    never, always = (4095,) * 25, (0,) * 25
    ctrl.select_array(3)
    steps = [
        Enable(EVERY, EVERY),
        Range(1e-4),
        Scan(0.1),
        WriteVerify("POS", 1e-6, 0.1, True, (1.0, 1.05), never),
        WriteVerify("POS", 1e-6, 0.1, True, (1.0, 1.05), always),
    ]
    out = ctrl.run_sequence(steps)
    assert [(r.step, r.round) for r in out] == [(2, 0), (3, 1), (3, 2)]
    assert np.all([r.codes.shape == (25, 25) for r in out])
