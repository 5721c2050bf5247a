"""LineServer on loopback TCP, and the virtual SMU driven by real clients over pyvisa-py.

Clients: our Keithley2400SourceMeter driver and pymeasure's unmodified Keithley2400, both opening
``TCPIP::127.0.0.1::<port>::SOCKET`` with the pyvisa-py backend.
"""

from __future__ import annotations

import math
import socket
import threading
import time

import pytest
import pyvisa
import serial
from pymeasure.instruments.keithley import Keithley2400
from pymeasure.instruments.keithley import keithley2400 as pymeasure_k2400

from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout
from mtj_hil.instruments.smu import Keithley2400SourceMeter
from mtj_hil.instruments.smu.known_state import SmuSettings
from mtj_hil.sim.lab import Applied, DropConnection, LineServer, VirtualClock, VirtualSMU

R_LOAD = 4.3e3  # ohm
VISA_KWARGS = {
    "visa_library": "@py",
    "read_termination": "\n",
    "write_termination": "\n",
    "timeout": 2000,  # ms
}
SETTINGS = SmuSettings(max_voltage=1.0, compliance=1e-3, line_frequency=60.0, ramp_rate=100.0)


def resistor(volts: float) -> float:
    return volts / R_LOAD


def sync(instrument) -> None:
    """Writes get no reply: wait until the instrument has worked through them (``*OPC?``)."""
    assert instrument.ask("*OPC?").strip() == "1"


@pytest.fixture(autouse=True)
def no_leaked_threads():
    before = set(threading.enumerate())
    yield
    deadline = time.monotonic() + 2.0
    while (extra := [t for t in threading.enumerate() if t not in before and t.is_alive()]) and (
        time.monotonic() < deadline
    ):
        time.sleep(0.005)
    assert extra == [], f"leaked threads: {extra}"


def connect(server: LineServer, timeout: float = 2.0) -> socket.socket:
    return socket.create_connection(server.address, timeout=timeout)


def recv_until(sock: socket.socket, count: int) -> bytes:
    data = b""
    while data.count(b"\n") < count:
        chunk = sock.recv(4096)
        if not chunk:
            break
        data += chunk
    return data


# ------------------------------------------------------------------------------ LineServer


def test_text_mode_lines_split_across_packets_and_crlf():
    with LineServer(lambda line: line.upper(), name="t-echo") as server, connect(server) as sock:
        assert server.address[0] == "127.0.0.1"
        assert server.resource == f"TCPIP::127.0.0.1::{server.port}::SOCKET"
        assert server.url == f"socket://127.0.0.1:{server.port}"
        sock.sendall(b"ab")
        sock.sendall(b"c\r\nde")
        sock.sendall(b"f\n")
        assert recv_until(sock, 2) == b"ABC\nDEF\n"


def test_none_reply_sends_nothing_and_order_is_kept():
    def handler(line: str) -> str | None:
        return None if line.startswith("set") else f"got {line}"

    with LineServer(handler, name="t-none") as server, connect(server) as sock:
        sock.sendall(b"set 1\nq1\nset 2\nq2\n")
        assert recv_until(sock, 2) == b"got q1\ngot q2\n"


def test_bytes_mode_passes_raw_lines_and_sends_replies_verbatim():
    seen: list[bytes] = []

    def handler(line: bytes) -> bytes:
        seen.append(line)
        return b"\xff" + line + b"\r\n"

    with LineServer(handler, encoding=None, name="t-bytes") as server, connect(server) as sock:
        sock.sendall(b"\x01\x02\r\n")
        assert recv_until(sock, 1) == b"\xff\x01\x02\r\r\n"
    assert seen == [b"\x01\x02\r"]


def test_custom_terminator():
    with (
        LineServer(lambda s: s[::-1], terminator=b"\r", name="t-cr") as server,
        connect(server) as sock,
    ):
        sock.sendall(b"abc\r")
        assert sock.recv(16) == b"cba\r"


def test_several_connections_are_served_concurrently():
    with (
        LineServer(lambda s: s, name="t-multi") as server,
        connect(server) as a,
        connect(server) as b,
    ):
        a.sendall(b"from a\n")
        b.sendall(b"from b\n")
        assert recv_until(b, 1) == b"from b\n"
        assert recv_until(a, 1) == b"from a\n"
        assert server.connections_total == 2


def test_drop_connection_with_reset_and_with_fin():
    def handler(line: str) -> str:
        if line == "rst":
            raise DropConnection(reset=True)
        if line == "fin":
            raise DropConnection(reset=False)
        return "ok"

    with LineServer(handler, name="t-drop") as server:
        with connect(server) as sock:
            sock.sendall(b"fin\n")
            assert sock.recv(16) == b""
        with connect(server) as sock:
            sock.sendall(b"rst\n")
            with pytest.raises(ConnectionResetError):
                sock.recv(16)
        with connect(server) as sock:  # the server keeps accepting
            sock.sendall(b"x\n")
            assert sock.recv(16) == b"ok\n"


def test_handler_exception_is_recorded_and_closes_the_connection():
    def handler(line: str) -> str:
        raise KeyError(line)

    with LineServer(handler, name="t-bug") as server, connect(server) as sock:
        sock.sendall(b"boom\n")
        with pytest.raises(ConnectionResetError):
            sock.recv(16)
        assert isinstance(server.handler_errors[0], KeyError)


def test_overlong_line_drops_the_connection():
    with LineServer(lambda s: s, max_line=64, name="t-long") as server, connect(server) as sock:
        sock.sendall(b"x" * 200)
        with pytest.raises(ConnectionResetError):
            sock.recv(16)


def test_stop_closes_open_connections_and_is_idempotent():
    server = LineServer(lambda s: s, name="t-stop")
    with pytest.raises(RuntimeError):
        _ = server.port
    server.start()
    sock = connect(server)
    sock.sendall(b"hi\n")
    assert sock.recv(16) == b"hi\n"
    assert server.active_connections == 1
    started = time.monotonic()
    server.stop()
    assert time.monotonic() - started < 0.5
    assert sock.recv(16) == b""
    sock.close()
    assert not server.running
    server.stop()
    with pytest.raises(OSError):
        connect(server, timeout=0.5)


def test_pyserial_socket_url_client():
    with LineServer(lambda s: f"echo {s}", name="t-serial") as server:
        port = serial.serial_for_url(server.url, timeout=1)
        try:
            port.write(b"ping\n")
            assert port.readline() == b"echo ping\n"
        finally:
            port.close()


# ------------------------------------------------------------------------------ virtual SMU + our driver


@pytest.fixture
def lab():
    smu = VirtualSMU(resistor)
    with LineServer(smu.handle, name="vsmu") as server:
        yield smu, server


@pytest.fixture
def driver(lab):
    _smu, server = lab
    k = Keithley2400SourceMeter(server.resource, sleep=lambda s: None, **VISA_KWARGS)
    assert k.configure(SETTINGS).ok
    sync(k)
    yield k
    k.close_session()


def test_driver_identity_and_settings(lab, driver):
    smu, _server = lab
    assert driver.idn == VirtualSMU.DEFAULT_IDN
    driver.compliance_current = 1e-3
    driver.nplc = 0.1
    assert driver.compliance_current == pytest.approx(1e-3)
    assert driver.nplc == pytest.approx(0.1)
    driver.enable_output()
    assert driver.output_enabled is True
    driver.output_enabled = False
    sync(driver)
    assert smu.output is False
    driver.reset()
    assert driver.compliance_current == pytest.approx(105e-6)
    assert driver.errors() == []


def test_driver_single_point(lab, driver):
    driver.compliance_current = 1e-3
    driver.source_voltage = 0.1
    driver.enable_output()
    reading = driver.measure_current()
    assert reading.voltage == pytest.approx(0.1)
    assert reading.current == pytest.approx(0.1 / R_LOAD, rel=1e-6)
    assert not reading.compliance and not reading.overflow


def test_driver_list_sweep_in_chunks(lab, driver):
    smu, _server = lab
    volts = [round(-0.5 + k * 0.004, 6) for k in range(250)]  # 3 chunks: 100 + 100 + 50
    driver.compliance_current = 1e-3
    driver.source_voltage = 0.02
    driver.enable_output()
    readings = driver.sweep_voltages(volts)
    sync(driver)
    assert [r.voltage for r in readings] == pytest.approx(volts)
    assert [r.current for r in readings] == pytest.approx([v / R_LOAD for v in volts], rel=1e-5)
    assert not any(r.compliance or r.overflow for r in readings)
    sent = [line for line, _ in smu.transcript]
    assert sum(line.startswith(":SOUR:LIST:VOLT:APP") for line in sent) == 2
    # after the sweep: fixed mode, one trigger, back at the bias level
    assert smu.handle(":SOUR:VOLT:MODE?") == "FIX"
    assert smu.handle(":TRIG:COUN?") == "1"
    assert smu.terminal_voltage == 0.02
    assert driver.errors() == []


def test_driver_full_length_sweep_and_history(lab, driver):
    smu, _server = lab
    volts = [((k % 200) - 100) / 1000 for k in range(Keithley2400SourceMeter.MAX_SWEEP_POINTS)]
    driver.compliance_current = 1e-3
    driver.enable_output()
    readings = driver.sweep_voltages(volts)
    assert len(readings) == 2500
    assert readings[-1].current == pytest.approx(volts[-1] / R_LOAD)
    swept = [a.voltage for a in smu.history[-2501:-1]]
    assert swept == volts


def test_driver_decodes_compliance(lab, driver):
    driver.compliance_current = 1e-5
    driver.enable_output()
    readings = driver.sweep_voltages([0.01, 0.1, -0.2])  # 2.3 uA, 23 uA, -46 uA
    assert [r.compliance for r in readings] == [False, True, True]
    assert readings[1].current == pytest.approx(1e-5)
    assert readings[2].current == pytest.approx(-1e-5)


def test_driver_forced_compliance_fault(lab, driver):
    smu, _server = lab
    driver.compliance_current = 1e-3
    driver.source_voltage = 0.01
    driver.enable_output()
    smu.force_compliance(1)
    assert driver.measure_current().compliance is True
    assert driver.measure_current().compliance is False


def test_driver_overflow_becomes_nan_and_flag(lab, driver):
    smu, _server = lab
    driver.enable_output()
    smu.overflow_next(2)
    readings = driver.sweep_voltages([0.1, 0.2, 0.3])
    assert [r.overflow for r in readings] == [True, True, False]
    assert math.isnan(readings[0].current) and math.isnan(readings[1].current)
    assert readings[2].current == pytest.approx(0.3 / R_LOAD)


def test_driver_error_queue(lab, driver):
    driver.write(":SOUR:VOLT:BOGUS 1")
    driver.write(":SENS:CURR:NPLC 99")
    assert driver.errors() == [(-113, "Undefined header"), (-222, "Data out of range")]
    assert driver.errors() == []


def test_driver_ramp_and_shutdown(lab, driver):
    smu, _server = lab
    driver.enable_output()
    driver.ramp_to_voltage(0.5, step=0.1, rate_v_per_s=10.0)
    sync(driver)
    levels = [a.voltage for a in smu.history if a.output]
    assert levels[-1] == pytest.approx(0.5)
    assert max(abs(b - a) for a, b in zip(levels, levels[1:], strict=False)) <= 0.1 + 1e-9
    assert driver.shutdown() is True  # confirmed off by read-back, session closed
    assert smu.history[-2:] == [Applied(0.0, True), Applied(0.0, False)]
    down = [a.voltage for a in smu.history if a.output]
    assert max(abs(b - a) for a, b in zip(down, down[1:], strict=False)) <= 0.1 + 1e-9
    assert smu.output is False and driver.isShutdown


@pytest.mark.slow
def test_timeout_gives_one_instrument_error_naming_resource_and_command(lab):
    smu, server = lab
    k = Keithley2400SourceMeter(server.resource, **VISA_KWARGS)
    try:
        k.write(":OUTP ON")  # a 2400 measures only with its output on (error +803 otherwise)
        smu.mute_queries(1)
        k.adapter.connection.timeout = 100  # short only where the timeout is expected
        with pytest.raises(InstrumentTimeout) as info:
            k.measure_current()
        k.adapter.connection.timeout = VISA_KWARGS["timeout"]
        message = str(info.value)
        assert server.resource.split("::", 1)[1] in message and "':READ?'" in message
        assert "device cleared" in message or "device failed" in message
        assert "aborted" in message and "error queue: empty" in message
        assert isinstance(info.value.__cause__, pyvisa.errors.VisaIOError)
        assert smu.points_measured == 1  # executed, only the reply was lost
        assert k.idn == VirtualSMU.DEFAULT_IDN  # nothing stale left in the stream
        assert any(line == ":ABOR" for line, _ in smu.transcript)
    finally:
        k.close_session()


def test_dropped_connection_is_detected(lab, driver):
    smu, server = lab
    driver.enable_output()
    sync(driver)
    smu.drop_after(0)
    with pytest.raises(InstrumentError, match="I/O error") as info:
        driver.measure_current()
    assert isinstance(info.value.__cause__, OSError)
    # the instrument itself is still there: a new session works
    k = Keithley2400SourceMeter(server.resource, **VISA_KWARGS)
    try:
        assert k.idn == VirtualSMU.DEFAULT_IDN
    finally:
        k.adapter.close()


def test_garbage_before_reply(lab, driver):
    smu, _server = lab
    driver.enable_output()
    smu.garble_next_reply("#@!")
    with pytest.raises(InstrumentError, match="non-numeric"):
        driver.measure_current()
    smu.garble_next_reply("\x00\xfe")  # not ASCII: pyvisa cannot even decode the reply
    with pytest.raises(InstrumentError, match="UnicodeDecodeError"):
        driver.measure_current()
    assert driver.measure_current().overflow is False  # stream still in step


def test_injected_error_reply(lab, driver):
    smu, _server = lab
    smu.fail_next(-221)
    driver.source_voltage = 0.3
    sync(driver)
    assert smu.level == 0.0
    assert driver.errors() == [(-221, "Settings conflict")]


def test_max_voltage_envelope_through_the_driver():
    smu = VirtualSMU(resistor, max_voltage=0.25)
    with LineServer(smu.handle, name="vsmu-env") as server:
        k = Keithley2400SourceMeter(server.resource, **VISA_KWARGS)
        try:
            assert k.configure(SETTINGS).ok
            k.enable_output()
            k.source_voltage = 0.2
            k.source_voltage = 0.3  # the driver allows it, the instrument refuses it
            assert k.errors() == [(-222, "Data out of range")]
            # a short timeout only where one is expected (a loaded machine answers the rest
            # late, and a 100 ms timeout there failed a configure query once)
            k.adapter.connection.timeout = 100
            with pytest.raises(InstrumentTimeout) as info:  # list refused -> :READ? no list
                k.sweep_voltages([0.1, 0.5])
            k.adapter.connection.timeout = VISA_KWARGS["timeout"]
            assert "-222" in str(info.value) and "-221" in str(info.value)  # drained
            assert k.errors() == []
        finally:
            k.close_session()
    assert max(abs(a.voltage) for a in smu.history) <= 0.25


def test_clock_totals_through_pyvisa():
    clock = VirtualClock()
    smu = VirtualSMU(resistor, clock=clock, latency=2e-3)
    with LineServer(smu.handle, name="vsmu-clock") as server:
        k = Keithley2400SourceMeter(server.resource, **VISA_KWARGS)
        try:
            assert k.configure(SETTINGS).ok
            sync(k)
            t0, now0 = clock.transactions, clock.now
            k.nplc = 0.5
            k.enable_output()
            k.sweep_voltages([0.0, 0.1, 0.2, 0.3])
            k.measure_current()
        finally:
            k.close_session()
    # NPLC + OUTP + MODE LIST + LIST + TRIG:COUN + READ? + MODE FIX + TRIG 1 + READ?
    assert clock.transactions - t0 == 9
    assert smu.points_measured == 5
    assert clock.now - now0 == pytest.approx(9 * 2e-3 + 5 * 0.5 / 60)


# ------------------------------------------------------------------------------ pymeasure, unmodified


def test_pymeasure_keithley2400_unmodified(monkeypatch):
    smu = VirtualSMU(resistor)
    # pymeasure's shutdown ramps to 0 V in 30 steps with 20 ms real sleeps; skip the waiting
    monkeypatch.setattr(
        pymeasure_k2400, "time", type("NoSleep", (), {"sleep": staticmethod(lambda s: None)})
    )
    with LineServer(smu.handle, name="vsmu-pym") as server:
        k = Keithley2400(server.resource, **VISA_KWARGS)
        try:
            assert k.id == VirtualSMU.DEFAULT_IDN
            with pytest.warns(FutureWarning):
                k.apply_voltage()
            k.compliance_current = 1e-3
            k.source_voltage = 0.1
            k.enable_source()
            with pytest.warns(FutureWarning):
                k.measure_current()
            assert k.current == pytest.approx(0.1 / R_LOAD, rel=1e-6)
            assert k.source_voltage == pytest.approx(0.1)
            assert k.compliance_current == pytest.approx(1e-3)
            assert k.source_enabled is True
            assert k.source_mode == "voltage"
            assert k.check_errors() == []
            k.shutdown()
            assert k.complete == "1"
        finally:
            k.adapter.close()
    assert smu.output is False and smu.level == pytest.approx(0.0, abs=1e-12)
    assert smu.errors() == []


def test_settings_with_more_than_six_digits_reach_the_instrument_as_asked(lab):
    """A station's compliance of 0.00123456789 A went out as ``0.00123457`` (``%g``): the
    read-back then disagreed with the setting asked, the instrument was blamed ("known
    state NOT reached"), and the compliance applied lay above the one asked."""
    smu, server = lab
    settings = SmuSettings(
        max_voltage=1.0,
        compliance=0.00123456789,
        nplc=1.23456789,
        line_frequency=60.0,
        ramp_rate=100.0,
    )
    k = Keithley2400SourceMeter(server.resource, sleep=lambda s: None, **VISA_KWARGS)
    try:
        state = k.configure(settings)
        assert state.ok, state.problems()
        assert smu.compliance == pytest.approx(0.00123456789, rel=1e-9)  # not 0.00123457
    finally:
        k.close_session()
