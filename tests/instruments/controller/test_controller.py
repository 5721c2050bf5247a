"""Byte-exact tests of the controller-board driver and its frame codec.

The frames used here are the ones of the example transcripts in docs/chip-protocol.md.
"""

from __future__ import annotations

import re
import socket
import threading
import time

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from mtj_hil.instruments.controller import (
    MAX_FRAME_BYTES,
    ChipController,
    ControllerError,
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
from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout, SafetyViolation

# --- frames of the reference transcript (docs/chip-protocol.md, section 7) -----------------

SYNC_00 = b"\nSYNC 00*6F\n"  # LF flushes the board's parser, then SYNC
SYNC_00_OK = b"OK 00 SYNC last=--*BD\n"
IDN_01 = b"IDN 01*25\n"
IDN_01_OK = b"OK 01 IDN model=XBC-1 sn=XB0042 fw=1.0.0 die=CMOS1T1R arrays=32 rows=25 cols=25*A9\n"
LIM_02 = b"LIM 02*6F\n"
LIM_02_OK = (
    b"OK 02 LIM vpulse_max=3.300 width_min=1.000e-08 width_max=1.000e-03 vread_min=0.000 "
    b"vread_max=3.300 adc_bits=12 t_cmd=2.000e-03 t_route=5.000e-03 t_pulse=1.000e-04 "
    b"t_dac=2.000e-04 t_read=1.500e-03*BC\n"
)
HANDSHAKE = [(SYNC_00, SYNC_00_OK), (IDN_01, IDN_01_OK), (LIM_02, LIM_02_OK)]


class FakePort:
    """Scripted serial port: each write must equal the next expected bytes; the paired reply
    bytes then become readable. ``read_until`` returns what is buffered up to the first LF,
    or everything without LF (as pyserial does on a timeout)."""

    def __init__(self, script: list[tuple[bytes, bytes]] | None = None) -> None:
        self.script = list(script or [])
        self.written: list[bytes] = []
        self.rx = bytearray()
        self.timeout: float | None = None
        self.timeouts: list[float] = []
        self.drains = 0
        self.port = "fake-port"

    def expect(self, request: bytes, reply: bytes) -> None:
        self.script.append((request, reply))

    def write(self, data: bytes) -> int:
        data = bytes(data)
        self.written.append(data)
        assert self.script, f"unexpected write {data!r}"
        expected, reply = self.script.pop(0)
        assert data == expected, f"wrote {data!r}, expected {expected!r}"
        self.rx += reply
        return len(data)

    def read_until(self, expected: bytes = b"\n", size: int | None = None) -> bytes:
        assert self.timeout is not None and self.timeout > 0
        self.timeouts.append(self.timeout)
        i = self.rx.find(expected)
        end = len(self.rx) if i < 0 else i + 1
        if size is not None:
            end = min(end, size)
        out = bytes(self.rx[:end])
        del self.rx[:end]
        return out

    def reset_input_buffer(self) -> None:
        self.drains += 1
        self.rx.clear()

    def close(self) -> None:
        pass


def make(extra: list[tuple[bytes, bytes]] | None = None, **kw) -> tuple[ChipController, FakePort]:
    port = FakePort(HANDSHAKE)
    ctl = ChipController(connection=port, port_name=kw.pop("port_name", "fake-port"), **kw)
    assert not port.script
    port.written.clear()
    port.timeouts.clear()
    port.script.extend(extra or [])
    return ctl, port


def frame(verb: str, seq: int, *args: str) -> bytes:
    return encode_frame(verb, seq, args)


# ============================================================================================
# Codec
# ============================================================================================


def test_crc8_check_value():
    assert crc8(b"123456789") == 0xF4
    assert crc8(b"") == 0


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


# ============================================================================================
# Driver: every command, byte for byte
# ============================================================================================


def test_handshake_and_identity():
    ctl, port = make()
    ident = ctl.identity
    assert ident is not None
    assert (ident.model, ident.serial, ident.firmware, ident.die) == (
        "XBC-1",
        "XB0042",
        "1.0.0",
        "CMOS1T1R",
    )
    assert (ident.arrays, ident.rows, ident.cols) == (32, 25, 25)
    assert ident.limits.vpulse_max == 3.3
    assert ident.limits.width_min == 1e-8
    assert ident.limits.t_read == 1.5e-3
    assert port.drains == 1  # input drained before the first SYNC


def test_handshake_adopts_board_sequence_counter():
    port = FakePort(
        [
            (SYNC_00, b"OK 00 SYNC last=0F*" + b"%02X\n" % crc8(b"OK 00 SYNC last=0F")),
            (b"IDN 10*" + b"%02X\n" % crc8(b"IDN 10"), ok_frame(0x10, "IDN", *IDN_FIELDS)),
            (
                frame("LIM", 0x11),
                ok_frame(0x11, "LIM", *LIM_02_OK.decode().split("*")[0].split()[3:]),
            ),
        ]
    )
    ctl = ChipController(connection=port)
    assert ctl.identity is not None and ctl.identity.rows == 25
    assert not port.script


IDN_FIELDS = IDN_01_OK.decode().split("*")[0].split()[3:]


def test_identify_again():
    ctl, port = make([(frame("IDN", 3), ok_frame(3, "IDN", *IDN_FIELDS))])
    port.expect(frame("LIM", 4), ok_frame(4, "LIM", *LIM_02_OK.decode().split("*")[0].split()[3:]))
    assert ctl.identify().cols == 25
    assert port.written == [b"IDN 03*" + b"%02X\n" % crc8(b"IDN 03"), frame("LIM", 4)]


def test_select_array():
    ctl, port = make([(b"SEL 03 7*16\n", b"OK 03 SEL 7*62\n")])
    ctl.select_array(7)
    assert port.written == [b"SEL 03 7*16\n"]


def test_enable_lines_mask_and_indices_give_same_bytes():
    rows = np.zeros(25, dtype=bool)
    rows[0] = True
    ctl, port = make(
        [
            (
                b"EN 03 0000001 0000006*" + b"%02X\n" % crc8(b"EN 03 0000001 0000006"),
                ok_frame(3, "EN", "0000001", "0000006"),
            )
        ]
    )
    port.expect(frame("EN", 4, "0000001", "0000006"), ok_frame(4, "EN", "0000001", "0000006"))
    port.expect(frame("EN", 5, "1FFFFFF", "0000000"), ok_frame(5, "EN", "1FFFFFF", "0000000"))
    ctl.enable_lines(rows, [2, 1])
    ctl.enable_lines([0], np.array([False, True, True] + [False] * 22))
    ctl.enable_lines(np.ones(25, dtype=bool), [])
    assert not port.script


def test_transcript_write_then_read():
    """The full transcript of docs/chip-protocol.md section 7, byte for byte."""
    codes = "80080A81481E82883283C84685085A86486E87888288C8968A08AA8B48BE8C88D28DC8E68F0"
    ctl, port = make(
        [
            (b"SEL 03 7*16\n", b"OK 03 SEL 7*62\n"),
            (b"EN 04 0000001 0000006*AC\n", b"OK 04 EN 0000001 0000006*8B\n"),
            (b"ROUTE 05 WRITE*61\n", b"OK 05 ROUTE WRITE*92\n"),
            (
                b"PULSE 06 NEG 1.250 1.000e-07*3B\n",
                b"OK 06 PULSE NEG 1.250 1.000e-07 cells=2*2A\n",
            ),
            (b"EN 07 1FFFFFF 1FFFFFF*8C\n", b"OK 07 EN 1FFFFFF 1FFFFFF*CD\n"),
            (
                b"VREAD 08" + b" 0.200" * 25 + b"*FA\n",
                b"OK 08 VREAD n=25*8E\n",
            ),
            (b"ROUTE 09 ADC*0B\n", b"OK 09 ROUTE ADC*51\n"),
            (b"READ 0A*C7\n", f"OK 0A READ lsb=2.441e-06 zero=2048 codes={codes}*5D\n".encode()),
            (
                b"STAT 0B*C1\n",
                b"OK 0B STAT busy=0 err=E00 arr=7 route=ADC smu=-- src=-- rows=1FFFFFF "
                b"cols=1FFFFFF temp=31.5 flags=00*C6\n",
            ),
        ]
    )
    ctl.select_array(7)
    ctl.enable_lines([0], [1, 2])
    ctl.route("WRITE")
    report = ctl.pulse(1.25, 100e-9, "NEG")
    assert (report.amplitude_v, report.width_s, report.polarity, report.cells) == (
        1.25,
        1e-7,
        "NEG",
        2,
    )
    ctl.enable_lines(np.ones(25, bool), np.ones(25, bool))
    ctl.set_read_voltages(0.2)
    ctl.route("adc")
    currents = ctl.read_all()
    np.testing.assert_allclose(currents, np.arange(25) * 10 * 2.441e-6)
    st_ = ctl.status()
    assert (st_.busy, st_.last_error, st_.array, st_.route) == (False, "E00", 7, "ADC")
    assert st_.smu_line is None and st_.input_source is None
    assert st_.rows_mask is not None and st_.rows_mask.all()
    assert (st_.temperature_c, st_.flags) == (31.5, 0)
    assert not port.script


def test_route_modes():
    ctl, port = make(
        [
            (
                b"ROUTE 03 SMU 12 DAC*" + b"%02X\n" % crc8(b"ROUTE 03 SMU 12 DAC"),
                ok_frame(3, "ROUTE", "SMU", "12", "DAC"),
            )
        ]
    )
    port.expect(frame("ROUTE", 4, "SMU", "0", "SMU"), ok_frame(4, "ROUTE", "SMU", "0", "SMU"))
    port.expect(frame("ROUTE", 5, "OFF"), ok_frame(5, "ROUTE", "OFF"))
    ctl.route("SMU", smu_line=12)
    ctl.route("smu", smu_line=0, input_source="smu")
    ctl.route("OFF")
    assert not port.script


def test_pulse_polarity_spellings():
    ctl, port = make()
    for seq, pol in zip(range(3, 7), ["POS", "+", 1, "pos"], strict=True):
        port.expect(
            frame("PULSE", seq, "POS", "0.800", "5.000e-08"),
            ok_frame(seq, "PULSE", "POS", "0.800", "5.000e-08", "cells=1"),
        )
        assert ctl.pulse(0.8, 50e-9, pol).polarity == "POS"
    port.expect(
        frame("PULSE", 7, "NEG", "3.300", "1.000e-03"),
        ok_frame(7, "PULSE", "NEG", "3.300", "1.000e-03", "cells=625"),
    )
    assert ctl.pulse(3.3, 1e-3, -1).cells == 625


def test_set_read_voltages_vector():
    volts = np.linspace(0, 0.48, 25)
    text = [format_volts(v) for v in volts]
    ctl, port = make([(frame("VREAD", 3, *text), ok_frame(3, "VREAD", "n=25"))])
    ctl.set_read_voltages(volts)
    assert port.written[0].startswith(b"VREAD 03 0.000 0.020 0.040 ")


def test_read_raw_and_saturation():
    codes = [0, 0xFFF] + [2048] * 23
    reply = ok_frame(3, "READ", "lsb=1.000e-06", "zero=2048", "codes=" + encode_codes(codes))
    ctl, port = make([(frame("READ", 3), reply)])
    raw = ctl.read_raw()
    assert raw.codes.tolist() == codes
    assert raw.saturated.nonzero()[0].tolist() == [0, 1]
    assert raw.currents_a[0] == pytest.approx(-2048e-6)
    assert raw.currents_a[1] == pytest.approx(2047e-6)

    port.expect(
        frame("READ", 4),
        ok_frame(4, "READ", "lsb=1.000e-06", "zero=2048", "codes=" + encode_codes(codes)),
    )
    with pytest.raises(InstrumentError, match=r"saturated on lines \[0, 1\]"):
        ctl.read_all()
    port.expect(
        frame("READ", 5),
        ok_frame(5, "READ", "lsb=1.000e-06", "zero=2048", "codes=" + encode_codes(codes)),
    )
    out = ctl.read_all(on_saturation="nan")
    assert np.isnan(out[:2]).all() and (out[2:] == 0).all()


def test_read_wrong_number_of_codes_is_malformed():
    reply = ok_frame(3, "READ", "lsb=1.000e-06", "zero=2048", "codes=" + "800" * 24)
    ctl, _ = make([(frame("READ", 3), reply)])
    with pytest.raises(FrameError, match="25 codes"):
        ctl.read_all()


def test_reset_and_context_manager():
    ctl, port = make([(b"RST 03*" + b"%02X\n" % crc8(b"RST 03"), ok_frame(3, "RST"))])
    with ctl:
        ctl.reset()
    assert not port.script
    with pytest.raises(InstrumentError, match="closed"):
        ctl.status()


def test_status_smu_mode():
    reply = ok_frame(
        3,
        "STAT",
        "busy=1",
        "err=E05",
        "arr=--",
        "route=SMU",
        "smu=4",
        "src=SMU",
        "rows=--",
        "cols=--",
        "temp=71.0",
        "flags=0A",
        "future=ignored",
    )
    ctl, _ = make([(frame("STAT", 3), reply)])
    s = ctl.status()
    assert (s.busy, s.last_error, s.array, s.smu_line, s.input_source) == (
        True,
        "E05",
        None,
        4,
        "SMU",
    )
    assert s.rows_mask is None and s.flags == 0x0A and s.temperature_c == 71.0


def test_timeouts_scale_with_the_operation():
    ctl, port = make()
    port.expect(
        frame("PULSE", 3, "POS", "1.000", "1.000e-03"),
        ok_frame(3, "PULSE", "POS", "1.000", "1.000e-03", "cells=1"),
    )
    port.expect(
        frame("PULSE", 4, "POS", "1.000", "1.000e-08"),
        ok_frame(4, "PULSE", "POS", "1.000", "1.000e-08", "cells=1"),
    )
    ctl.pulse(1.0, 1e-3, "POS")
    ctl.pulse(1.0, 1e-8, "POS")
    long_t, short_t = port.timeouts
    # 2 x (1 ms width) more, up to the time spent between computing and reading
    assert long_t - short_t == pytest.approx(2 * (1e-3 - 1e-8), abs=5e-4)
    assert 0.05 < short_t < 0.1


# ============================================================================================
# Errors, safety, corruption, retries
# ============================================================================================


def test_err_reply_raises_code_and_message_without_retry():
    ctl, port = make(
        [(b"READ 03*" + b"%02X\n" % crc8(b"READ 03"), err_frame(3, "E06", "READ needs route ADC"))]
    )
    with pytest.raises(ControllerError) as info:
        ctl.read_all()
    assert info.value.code == "E06"
    assert info.value.message == "READ needs route ADC"
    assert info.value.command == "READ"
    assert "E06" in str(info.value) and "READ needs route ADC" in str(info.value)
    assert isinstance(info.value, InstrumentError)
    assert len(port.written) == 1


@pytest.mark.parametrize(
    ("call", "exc"),
    [
        (lambda c: c.pulse(3.301, 1e-7, "POS"), SafetyViolation),
        (lambda c: c.pulse(5.0, 1e-7, "NEG"), SafetyViolation),
        (lambda c: c.pulse(float("nan"), 1e-7, "NEG"), SafetyViolation),
        (lambda c: c.pulse(1.0, 5e-9, "POS"), SafetyViolation),
        (lambda c: c.pulse(1.0, 2e-3, "POS"), SafetyViolation),
        (lambda c: c.pulse(-1.0, 1e-7, "POS"), ValueError),
        (lambda c: c.pulse(1.0, 1e-7, "SET"), ValueError),
        (lambda c: c.pulse(1.0, 1e-7, True), ValueError),
        (lambda c: c.set_read_voltages(3.4), SafetyViolation),
        (lambda c: c.set_read_voltages(-0.1), SafetyViolation),
        (lambda c: c.set_read_voltages([0.1] * 24 + [float("inf")]), SafetyViolation),
        (lambda c: c.set_read_voltages([0.1] * 24), ValueError),
        (lambda c: c.select_array(32), ValueError),
        (lambda c: c.select_array(-1), ValueError),
        (lambda c: c.enable_lines([25], [0]), ValueError),
        (lambda c: c.enable_lines(np.ones(24, bool), [0]), ValueError),
        (lambda c: c.enable_lines([0.5], [0]), ValueError),
        (lambda c: c.route("SMU"), ValueError),
        (lambda c: c.route("SMU", smu_line=25), ValueError),
        (lambda c: c.route("ADC", smu_line=3), ValueError),
        (lambda c: c.route("SMU", smu_line=3, input_source="ADC"), ValueError),
        (lambda c: c.route("READ"), ValueError),
    ],
)
def test_invalid_requests_send_nothing(call, exc):
    ctl, port = make()
    with pytest.raises(exc):
        call(ctl)
    assert port.written == []


def test_safety_violation_is_a_value_error_and_names_the_quantity():
    ctl, port = make()
    with pytest.raises(SafetyViolation, match=r"amplitude 3\.5 V outside 0\.\.3\.3 V"):
        ctl.pulse(3.5, 1e-7, "POS")
    assert port.written == []


def test_board_limits_above_safe_bias_are_clamped():
    lim = LIM_02_OK.decode().split("*")[0].split()[3:]
    lim = ["vpulse_max=5.000" if f.startswith("vpulse_max") else f for f in lim]
    lim = ["vread_max=5.000" if f.startswith("vread_max") else f for f in lim]
    port = FakePort(
        [(SYNC_00, SYNC_00_OK), (IDN_01, IDN_01_OK), (LIM_02, ok_frame(2, "LIM", *lim))]
    )
    ctl = ChipController(connection=port)
    assert ctl.identity is not None
    assert ctl.identity.limits.vpulse_max == 3.3 and ctl.identity.limits.vread_max == 3.3
    port.written.clear()
    with pytest.raises(SafetyViolation):
        ctl.pulse(4.0, 1e-7, "POS")
    with pytest.raises(SafetyViolation):
        ctl.set_read_voltages(3.5)
    assert port.written == []


def test_station_envelope_is_checked_too():
    class Envelope:
        def check_pulse(self, amplitude, width):
            if amplitude > 1.0:
                raise SafetyViolation(f"pulse amplitude {amplitude} V above station limit 1 V")

        def check_read_voltages(self, volts):
            if np.max(np.abs(volts)) > 0.3:
                raise SafetyViolation("read voltage above 0.3 V")

    ctl, port = make(envelope=Envelope())
    with pytest.raises(SafetyViolation, match="station"):
        ctl.pulse(1.5, 1e-7, "POS")
    with pytest.raises(SafetyViolation):
        ctl.set_read_voltages(0.5)
    assert port.written == []


def test_checksum_mismatch_in_reply_resyncs_and_retries_same_bytes():
    sel = b"SEL 03 7*16\n"
    ctl, port = make(
        [
            (sel, b"OK 03 SEL 7*63\n"),  # corrupted checksum
            (b"\n" + frame("SYNC", 4), ok_frame(4, "SYNC", "last=03")),
            (sel, b"OK 03 SEL 7*62\n"),  # board replays its stored reply
            (frame("RST", 5), ok_frame(5, "RST")),
        ]
    )
    ctl.select_array(7)
    ctl.reset()  # numbering continues after the SYNC
    assert port.written == [
        sel,
        b"\nSYNC 04*" + b"%02X\n" % crc8(b"SYNC 04"),
        sel,
        frame("RST", 5),
    ]
    assert not port.script


@pytest.mark.parametrize(
    "garbage",
    [
        b"\x00\xff\x13",  # glued to the reply: the line fails framing
        b"\xfe\xfegarbage line\n",  # a line of its own before the reply
        b"ERR -- E01 checksum mismatch*CE\n",  # board could not read our frame
    ],
)
def test_garbage_before_reply_resyncs(garbage):
    stat = ok_frame(3, "STAT", *STAT_FIELDS)
    ctl, port = make(
        [
            (frame("STAT", 3), garbage + stat),
            (b"\n" + frame("SYNC", 4), b"\x00junk\n" + ok_frame(4, "SYNC", "last=03")),
            (frame("STAT", 3), stat),
        ]
    )
    assert ctl.status().array == 7
    assert not port.script
    assert port.drains >= 1


STAT_FIELDS = (
    "busy=0",
    "err=E00",
    "arr=7",
    "route=ADC",
    "smu=--",
    "src=--",
    "rows=1FFFFFF",
    "cols=1FFFFFF",
    "temp=31.5",
    "flags=00",
)


def test_sync_hunt_skips_stale_replies():
    ctl, port = make(
        [
            (frame("STAT", 3), b""),  # timeout
            (
                b"\n" + frame("SYNC", 4),
                ok_frame(3, "STAT", *STAT_FIELDS)  # late reply
                + err_frame(None, "E01", "checksum mismatch")
                + ok_frame(4, "SYNC", "last=03"),
            ),
            (frame("STAT", 3), ok_frame(3, "STAT", *STAT_FIELDS)),
        ]
    )
    assert ctl.status().route == "ADC"
    assert not port.script


def test_timeout_bounded_retries_then_instrument_timeout():
    stat = frame("STAT", 3)
    ctl, port = make(
        [
            (stat, b""),
            (b"\n" + frame("SYNC", 4), ok_frame(4, "SYNC", "last=02")),
            (stat, b""),
            (b"\n" + frame("SYNC", 5), ok_frame(5, "SYNC", "last=02")),
            (stat, b"OK 03 STA"),  # partial line, then nothing
        ],
        retries=2,
    )
    with pytest.raises(InstrumentTimeout) as info:
        ctl.status()
    text = str(info.value)
    assert "fake-port" in text and "STAT" in text and "3 tries" in text
    assert port.written.count(stat) == 3
    assert not port.script
    # the next command starts with a resynchronisation
    port.expect(b"\n" + frame("SYNC", 6), ok_frame(6, "SYNC", "last=02"))
    port.expect(frame("RST", 7), ok_frame(7, "RST"))
    ctl.reset()
    assert not port.script


def test_timeout_with_zero_retries_writes_once():
    ctl, port = make([(frame("STAT", 3), b"")], retries=0)
    with pytest.raises(InstrumentTimeout):
        ctl.status()
    assert port.written == [frame("STAT", 3)]


def test_sequence_mismatch_is_retried():
    stat_ok = ok_frame(3, "STAT", *STAT_FIELDS)
    ctl, port = make(
        [
            (frame("STAT", 3), ok_frame(2, "STAT", *STAT_FIELDS)),  # stale number
            (b"\n" + frame("SYNC", 4), ok_frame(4, "SYNC", "last=03")),
            (frame("STAT", 3), stat_ok),
        ]
    )
    assert ctl.status().array == 7
    assert not port.script


def test_persistent_sequence_mismatch_raises_instrument_error():
    wrong = ok_frame(9, "STAT", *STAT_FIELDS)
    script = [(frame("STAT", 3), wrong)]
    for seq in (4, 5):
        script += [(b"\n" + frame("SYNC", seq), ok_frame(seq, "SYNC", "last=03"))]
        script += [(frame("STAT", 3), wrong)]
    ctl, port = make(script)
    with pytest.raises(InstrumentError, match="sequence mismatch.*sent 03, got 09") as info:
        ctl.status()
    assert not isinstance(info.value, InstrumentTimeout)
    assert not port.script


def test_reply_to_another_command_is_rejected():
    ctl, _ = make(
        [
            (frame("STAT", 3), ok_frame(3, "READ", "x=1")),
            (b"\n" + frame("SYNC", 4), ok_frame(4, "SYNC", "last=03")),
            (frame("STAT", 3), ok_frame(3, "READ", "x=1")),
        ],
        retries=1,
    )
    with pytest.raises(InstrumentError, match="names"):
        ctl.status()


def test_wrong_echo_is_rejected():
    ctl, _ = make([(frame("SEL", 3, "7"), ok_frame(3, "SEL", "6"))])
    with pytest.raises(FrameError, match="echo"):
        ctl.select_array(7)


def test_sequence_number_wraps():
    ctl, port = make()
    ctl._seq = 0xFF
    port.expect(frame("RST", 0xFF), ok_frame(0xFF, "RST"))
    port.expect(frame("RST", 0x00), ok_frame(0x00, "RST"))
    ctl.reset()
    ctl.reset()
    assert port.written == [
        b"RST FF*" + b"%02X\n" % crc8(b"RST FF"),
        b"RST 00*" + b"%02X\n" % crc8(b"RST 00"),
    ]


def test_passive_die_geometry():
    idn = ok_frame(
        1,
        "IDN",
        "model=XBC-1",
        "sn=7",
        "fw=1.0.0",
        "die=PASSIVE1R",
        "arrays=4",
        "rows=15",
        "cols=15",
    )
    port = FakePort([(SYNC_00, SYNC_00_OK), (IDN_01, idn), (LIM_02, LIM_02_OK)])
    ctl = ChipController(connection=port)
    port.expect(frame("EN", 3, "7FFF", "0001"), ok_frame(3, "EN", "7FFF", "0001"))
    ctl.enable_lines(np.ones(15, bool), [0])
    with pytest.raises(ValueError):
        ctl.select_array(4)
    with pytest.raises(ValueError):
        ctl.enable_lines(np.ones(25, bool), [0])


def test_handshake_failure_closes_and_raises():
    port = FakePort([(SYNC_00, b"")])
    port.expect(b"\n" + frame("SYNC", 1), b"")
    port.expect(b"\n" + frame("SYNC", 2), b"")
    with pytest.raises(InstrumentTimeout, match="SYNC"):
        ChipController(connection=port)


# ============================================================================================
# Real pyserial URL against a tiny board simulator built from the same codec
# ============================================================================================


class _MiniBoard(threading.Thread):
    """Just enough of a board for the socket test: SYNC, IDN, LIM, STAT, RST, replay memory."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.server = socket.create_server(("127.0.0.1", 0))
        self.port = self.server.getsockname()[1]
        self.executed: list[bytes] = []

    def run(self) -> None:
        conn, _ = self.server.accept()
        buf = b""
        last: tuple[bytes, bytes] | None = None
        with conn:
            while True:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    if not line:
                        continue
                    try:
                        f = decode_frame(line)
                    except FrameError as exc:
                        conn.sendall(err_frame(None, "E01", str(exc)[:40].replace("*", "")))
                        continue
                    if last is not None and line == last[0]:
                        conn.sendall(last[1])
                        continue
                    if f.verb == "SYNC":
                        seq = "--" if last is None else line.split(b" ")[1].decode()
                        conn.sendall(ok_frame(f.seq, "SYNC", f"last={seq}"))
                        continue
                    self.executed.append(line)
                    if f.verb == "IDN":
                        reply = ok_frame(f.seq, "IDN", *IDN_FIELDS)
                    elif f.verb == "LIM":
                        reply = ok_frame(
                            f.seq, "LIM", *LIM_02_OK.decode().split("*")[0].split()[3:]
                        )
                    elif f.verb == "STAT":
                        reply = ok_frame(f.seq, "STAT", *STAT_FIELDS)
                    elif f.verb == "RST":
                        reply = ok_frame(f.seq, "RST")
                    else:
                        reply = err_frame(f.seq, "E02", f"unknown command {f.verb}")
                    last = (line, reply)
                    conn.sendall(reply)


def test_socket_url_end_to_end():
    board = _MiniBoard()
    board.start()
    with ChipController(f"socket://127.0.0.1:{board.port}", timeout=2.0) as ctl:
        assert ctl.identity is not None and ctl.identity.model == "XBC-1"
        assert ctl.status().array == 7
        ctl.reset()
        with pytest.raises(ControllerError, match="E02"):
            ctl._transact("FOO")
    time.sleep(0.05)
    assert [line.split(b" ")[0] for line in board.executed] == [
        b"IDN",
        b"LIM",
        b"STAT",
        b"RST",
        b"FOO",
    ]
