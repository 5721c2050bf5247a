"""Controller-board driver: errors, safety, corruption, retries.

The frames used here are the ones of the example transcripts in docs/chip-protocol.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.controller import (
    ChipController,
    ControllerError,
    FrameError,
    crc8,
    err_frame,
    ok_frame,
)
from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout, SafetyViolation

from .fakes import (
    IDN_01,
    IDN_01_OK,
    LIM_02,
    LIM_02_OK,
    STAT_FIELDS,
    SYNC_00,
    SYNC_00_OK,
    FakePort,
    frame,
    make,
)


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
        (lambda c: c.set_read_voltages([0.1] * 24 + [float("nan")]), SafetyViolation),
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
