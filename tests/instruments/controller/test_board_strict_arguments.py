"""The virtual board holds the host to the protocol's spellings as docs/chip-protocol.md
gives them: SYNC takes no arguments (section 3), a voltage is never ``-0.000`` (section 2),
and a pulse amplitude is a magnitude whose refusal says so (section 4, E05)."""

from __future__ import annotations

import pytest

from mtj_hil.instruments.controller.codec import decode_frame, encode_frame
from mtj_hil.sim.die import make_die
from mtj_hil.sim.lab.board import VirtualBoard
from mtj_hil.sim.profile import load_profile


@pytest.fixture
def ask():
    board = VirtualBoard(make_die(load_profile("1t1r-20k"), 0, 0))
    seq = iter(range(1, 200))

    def send(verb: str, *args: str):
        return decode_frame(board.handle(encode_frame(verb, next(seq), args).rstrip(b"\n")))

    send("SYNC")
    return send


def test_sync_with_arguments_is_a_syntax_error(ask):
    reply = ask("SYNC", "32", "X")
    assert (reply.verb, reply.error_code) == ("ERR", "E03")
    assert ask("SYNC").verb == "OK"


def test_a_minus_zero_voltage_is_refused(ask):
    assert ask("SEL", "00").verb == "OK"
    reply = ask("VREAD", *["-0.000"] * 25)
    assert (reply.verb, reply.error_code) == ("ERR", "E03")
    assert "-0.000" in reply.error_message
    assert ask("VREAD", *["0.000"] * 25).verb == "OK"


def test_a_negative_amplitude_is_refused_as_outside_not_above_the_limit(ask):
    reply = ask("PULSE", "POS", "-1.000", "1.000e-06")
    assert (reply.verb, reply.error_code) == ("ERR", "E05")
    assert "outside 0.000..3.300 V" in reply.error_message and "above" not in reply.error_message
