"""Controller driver: PULSE and SCAN replies checked against the request, port options,
port errors as InstrumentError."""

from __future__ import annotations

import pytest
import serial

from mtj_hil.instruments.controller import ChipController, ReplyMismatch, format_mask, ok_frame
from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout

from .fakes import HANDSHAKE, FakePort, frame, make


def enable(port, seq, rows, cols):
    r, c = format_mask(rows, 25), format_mask(cols, 25)
    port.expect(frame("EN", seq, r, c), ok_frame(seq, "EN", r, c))


@pytest.mark.parametrize(
    ("reply", "match"),
    [
        (("POS", "0.700", "1.000e-07", "cells=6"), "0.700"),  # another amplitude
        (("POS", "0.800", "2.000e-07", "cells=6"), "2.000e-07"),  # another width
        (("NEG", "0.800", "1.000e-07", "cells=6"), "NEG"),  # the other polarity
        (("POS", "0.800", "1.000e-07", "cells=5"), "on 5 cells"),  # a cell missing
    ],
)
def test_pulse_reply_differing_from_the_request_is_refused(reply, match):
    ctl, port = make()
    enable(port, 3, [1, 2], [0, 4, 7])  # 2 x 3 = 6 cells
    port.expect(frame("PULSE", 4, "POS", "0.800", "1.000e-07"), ok_frame(4, "PULSE", *reply))
    ctl.enable_lines([1, 2], [0, 4, 7])
    with pytest.raises(ReplyMismatch, match=match) as info:
        ctl.pulse(0.8, 1e-7, "POS")
    assert "asked POS 0.800 1.000e-07 on 6 cells" in str(info.value)


def test_pulse_reply_within_the_documented_quantisation_is_accepted():
    ctl, port = make()
    enable(port, 3, [0], [0, 1])
    port.expect(
        frame("PULSE", 4, "POS", "0.800", "3.162e-06"),
        ok_frame(4, "PULSE", "POS", "0.801", "3.160e-06", "cells=2"),  # DAC step, 10 ns timebase
    )
    ctl.enable_lines([0], [0, 1])
    report = ctl.pulse(0.8, 3.162e-6, "POS")
    assert report.cells == 2 and report.width_s == pytest.approx(3.16e-6)


def test_scan_reply_for_another_number_of_lines_is_refused():
    ctl, port = make()
    ctl.identity = ctl.identity.__class__(**{**ctl.identity.__dict__, "firmware": "1.1.0"})
    enable(port, 3, [0, 1, 2], list(range(25)))
    codes = "800" * 25 * 2
    port.expect(
        frame("SCAN", 4, "0.100"),
        ok_frame(4, "SCAN", "lsb=4.883e-08", "zero=2048", "n=2", f"codes={codes}"),
    )
    ctl.enable_lines([0, 1, 2], list(range(25)))
    with pytest.raises(ReplyMismatch, match="3 enabled input lines, board reports n=2"):
        ctl.scan(0.1)


def test_port_is_opened_exclusively_with_write_timeout_flow_control_and_lines(monkeypatch):
    seen = {}

    class Port(FakePort):
        def open(self):
            seen["opened"] = True

    def fake_for_url(url, do_not_open=False, **options):
        seen.update(url=url, do_not_open=do_not_open, **options)
        return Port(HANDSHAKE)

    monkeypatch.setattr(serial, "serial_for_url", fake_for_url)
    ChipController(
        "/dev/serial/by-id/usb-board-if00",
        write_timeout=0.5,
        rtscts=True,
        dtr=False,
        rts=True,
    )
    assert seen["do_not_open"] and seen["opened"]
    assert seen["exclusive"] is True and seen["write_timeout"] == 0.5 and seen["rtscts"] is True


def test_a_port_held_by_another_process_is_one_instrument_error(monkeypatch):
    def busy(url, **options):
        raise serial.SerialException(
            f"[Errno 11] could not exclusively lock port {url}: Resource temporarily unavailable"
        )

    monkeypatch.setattr(serial, "serial_for_url", busy)
    with pytest.raises(InstrumentError, match="in use by another process"):
        ChipController("/dev/ttyACM0")


def test_a_stalled_write_is_a_timeout_naming_the_command():
    ctl, port = make(retries=0)

    def stalled(data):
        raise serial.SerialTimeoutException("Write timeout")

    port.write = stalled
    with pytest.raises(InstrumentTimeout, match="write of SEL timed out"):
        ctl.select_array(1)
