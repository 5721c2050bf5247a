"""Byte-exact tests of the controller-board frame codec.

The frames used here are the ones of the example transcripts in docs/chip-protocol.md.
"""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtj_hil.instruments.controller import (
    MAX_FRAME_BYTES,
    Frame,
    FrameError,
    crc8,
    decode_codes,
    decode_frame,
    encode_codes,
    encode_frame,
    err_frame,
    format_mask,
    format_seconds,
    format_volts,
    ok_frame,
    parse_fields,
    parse_mask,
    parse_volts,
)


def test_crc8_check_value():
    assert crc8(b"123456789") == 0xF4
    assert crc8(b"") == 0


def _crc8_bitwise(data: bytes) -> int:
    """The CRC as docs/chip-protocol.md defines it, shifted one bit at a time."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc


@given(st.binary(max_size=300))
def test_crc8_table_gives_the_bitwise_crc(data: bytes) -> None:
    assert crc8(data) == _crc8_bitwise(data)


def test_crc8_of_every_single_byte_is_the_bitwise_one() -> None:
    assert [crc8(bytes([b])) for b in range(256)] == [_crc8_bitwise(bytes([b])) for b in range(256)]


def test_encode_frame_exact_bytes():
    assert encode_frame("SEL", 3, ["7"]) == b"SEL 03 7*16\n"
    assert encode_frame("READ", 10) == b"READ 0A*C7\n"
    assert ok_frame(3, "SEL", "7") == b"OK 03 SEL 7*62\n"
    assert err_frame(12, "E05", "amplitude 3.500 V  above 3.300 V") == (
        b"ERR 0C E05 amplitude 3.500 V above 3.300 V*5D\n"
    )
    assert err_frame(None, "E01", "checksum mismatch") == b"ERR -- E01 checksum mismatch*CE\n"


def test_decode_frame_fields():
    f = decode_frame(b"ERR 0C E05 amplitude 3.500 V above 3.300 V*5D\n")
    assert f == Frame("ERR", 12, ("E05", "amplitude", "3.500", "V", "above", "3.300", "V"))
    assert f.error_code == "E05"
    assert f.error_message == "amplitude 3.500 V above 3.300 V"
    assert decode_frame(b"OK 03 SEL 7*62") == Frame("OK", 3, ("SEL", "7"))
    assert decode_frame(b"ERR -- E01 checksum mismatch*CE\n").seq is None


@pytest.mark.parametrize(
    "line",
    [
        b"OK 03 SEL 7*63\n",  # wrong checksum
        b"OK 03 SEL 8*62\n",  # corrupted payload
        b"OK 03 SEL 7*6f\n",  # lower-case checksum
        b"OK 03 SEL 7\n",  # no checksum
        b"OK 03 SEL 7*62\r\n",  # CR
        b"OK 03  SEL 7*" + b"%02X\n" % crc8(b"OK 03  SEL 7"),  # double blank
        b"OK 3 SEL 7*" + b"%02X\n" % crc8(b"OK 3 SEL 7"),  # one-digit seq
        b"OK -- SEL 7*" + b"%02X\n" % crc8(b"OK -- SEL 7"),  # '--' outside ERR
        b"ok 03 SEL 7*" + b"%02X\n" % crc8(b"ok 03 SEL 7"),  # lower-case verb
        b"ERR 03 5 x*" + b"%02X\n" % crc8(b"ERR 03 5 x"),  # bad error code
        b"\x00\xffOK 03 SEL 7*62\n",  # garbage prefix
        b"\n",
        b"A" * MAX_FRAME_BYTES + b"\n",
    ],
)
def test_decode_frame_rejects(line):
    with pytest.raises(FrameError):
        decode_frame(line)


@pytest.mark.parametrize(
    ("verb", "seq", "args"),
    [("sel", 1, []), ("SEL", 256, []), ("SEL", None, []), ("SEL", 1, ["a b"]), ("SEL", 1, ["*"])],
)
def test_encode_frame_rejects(verb, seq, args):
    with pytest.raises(FrameError):
        encode_frame(verb, seq, args)


_token = st.text(
    alphabet=st.characters(min_codepoint=0x21, max_codepoint=0x7E, exclude_characters="*"),
    min_size=1,
    max_size=12,
)


@pytest.mark.slow
@given(
    verb=st.from_regex(r"[A-Z]{1,8}", fullmatch=True),
    seq=st.integers(0, 255),
    args=st.lists(_token, max_size=10),
)
def test_frame_round_trip(verb, seq, args):
    """Whatever encodes decodes to the same frame; ERR frames need the Enn code grammar."""
    if verb == "ERR" and (len(args) < 2 or not re.fullmatch(r"E\d\d", args[0])):
        with pytest.raises(FrameError):
            encode_frame(verb, seq, args)
        return
    assert decode_frame(encode_frame(verb, seq, args)) == Frame(verb, seq, tuple(args))


def test_err_frame_round_trip():
    frame = Frame("ERR", 7, ("E03", "bad", "mask"))
    assert decode_frame(encode_frame("ERR", 7, ["E03", "bad", "mask"])) == frame


@given(st.integers(0, 255), st.integers(0, 7))
def test_single_bit_flip_detected(pos_seed, bit):
    raw = bytearray(b"PULSE 06 NEG 1.250 1.000e-07*3B")
    pos = pos_seed % len(raw)
    raw[pos] ^= 1 << bit
    with pytest.raises(FrameError):
        decode_frame(bytes(raw) + b"\n")


@given(st.integers(1, 80).flatmap(lambda n: st.tuples(st.just(n), st.sets(st.integers(0, n - 1)))))
def test_a_mask_parses_back_to_the_lines_it_was_formatted_from(case) -> None:
    n, lines = case
    mask = parse_mask(format_mask(sorted(lines), n), n)
    assert mask.dtype == bool and mask.shape == (n,)
    assert mask.nonzero()[0].tolist() == sorted(lines)


@given(st.text(max_size=12))
def test_a_token_is_printable_ascii_without_blanks_or_star(token: str) -> None:
    allowed = bool(token) and all(0x21 <= ord(c) <= 0x7E and c != "*" for c in token)
    if allowed:
        assert encode_frame("STAT", 1, [token]).startswith(b"STAT 01 " + token.encode())
    else:
        with pytest.raises(FrameError, match="invalid token"):
            encode_frame("STAT", 1, [token])


@pytest.mark.parametrize("token", ["!", "~", "a*b", "a b", "\x7f", "\x20", "é", "x\n"])
def test_tokens_at_the_edges_of_printable_ascii(token: str) -> None:
    allowed = all(0x21 <= ord(c) <= 0x7E and c != "*" for c in token)
    if allowed:
        encode_frame("STAT", 1, [token])
    else:
        with pytest.raises(FrameError, match="invalid token"):
            encode_frame("STAT", 1, [token])


def test_value_formats():
    assert format_volts(1.25) == "1.250"
    assert format_volts(-0.0001) == "0.000"
    assert format_volts(-0.2) == "-0.200"
    assert parse_volts("0.200") == 0.2
    with pytest.raises(FrameError):
        parse_volts("+0.200")
    assert format_seconds(1e-7) == "1.000e-07"
    assert format_mask([0], 25) == "0000001"
    assert format_mask(range(25), 25) == "1FFFFFF"
    assert format_mask(range(15), 15) == "7FFF"
    assert parse_mask("0000006", 25).nonzero()[0].tolist() == [1, 2]
    with pytest.raises(FrameError):
        parse_mask("2000000", 25)  # bit 25 beyond geometry
    with pytest.raises(FrameError):
        parse_mask("1ffffff", 25)
    with pytest.raises(ValueError):
        format_mask([25], 25)
    assert encode_codes([0x800, 0x80A, 0xFFF]) == "80080AFFF"
    assert decode_codes("80080AFFF", 3).tolist() == [0x800, 0x80A, 0xFFF]
    with pytest.raises(FrameError):
        decode_codes("80080A", 3)
    assert parse_fields(["a=1", "b=x"]) == {"a": "1", "b": "x"}
    with pytest.raises(FrameError):
        parse_fields(["a=1", "a=2"])
    with pytest.raises(FrameError):
        parse_fields(["bare"])
