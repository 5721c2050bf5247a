"""Byte-exact tests of the controller-board driver: every command, byte for byte.

The frames used here are the ones of the example transcripts in docs/chip-protocol.md.
"""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.controller import (
    ChipController,
    FrameError,
    crc8,
    encode_codes,
    format_volts,
    ok_frame,
)
from mtj_hil.instruments.errors import InstrumentError

from .fakes import IDN_FIELDS, LIM_02_OK, SYNC_00, FakePort, frame, make


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
