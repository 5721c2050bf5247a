"""Bad input on the wire: malformed lines, garbage, over-long lines, clients that vanish.

Every dialect answers as the real instrument does (an error-queue entry, no reply), its server
thread survives, and the next session works.
"""

from __future__ import annotations

import socket

import pytest

from mtj_hil.sim.lab import SMU_DIALECTS, LineServer, make_virtual_smu

ERROR_QUERY = {
    "keithley2400": b":SYST:ERR?",
    "keithley2450": b":SYST:ERR?",
    "keithley2600": b"print(errorqueue.next())",
    "keysight_b2900": b":SYST:ERR?",
}
MALFORMED = {
    "keithley2400": [(b":SOUR:VOLT 1,,2", -102), (b":SENS:FUNC 'CURR", -102), (b":SOUR:VOLT::LEV 1", -102)],
    "keithley2450": [(b":SOUR:VOLT 1,,2", -102), (b':SENS:FUNC "CURR', -102), (b":OUTP MAYBE", -224)],
    "keithley2600": [(b"print(", -285), (b"smua.source.levelv = ", -285), (b"smua.source.levelv = 'x' + 1", -286)],
    "keysight_b2900": [(b":SOUR1:VOLT 1,,2", -102), (b":MEAS? (@1", -224), (b":OUTP1 2", -224)],
}  # fmt: skip


def serve(dialect: str):
    inst = make_virtual_smu(dialect, lambda v: v / 4.3e3)
    server = LineServer(inst.handle, max_line=4096, on_overlong=inst.overlong_line)
    return inst, server


def exchange(server: LineServer, *lines: bytes) -> list[bytes]:
    """Send lines; the last is a query whose one-line reply is returned (with all before)."""
    with socket.create_connection(server.address, timeout=2.0) as sock:
        sock.sendall(b"".join(line + b"\n" for line in lines))
        data = b""
        while not data.endswith(b"\n"):
            chunk = sock.recv(65536)
            if not chunk:
                break
            data += chunk
    return data.splitlines()


def error_code(reply: bytes) -> int:
    return int(float(reply.replace(b"\t", b",").split(b",")[0]))


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_malformed_lines_queue_errors_and_the_session_goes_on(dialect):
    inst, server = serve(dialect)
    with server:
        for line, code in MALFORMED[dialect]:
            (reply,) = exchange(server, line, ERROR_QUERY[dialect])
            assert error_code(reply) == code, (line, reply)
    assert server.handler_errors == []
    assert inst.level == 0.0 and not inst.output


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_binary_garbage_is_an_error_not_a_crash(dialect):
    inst, server = serve(dialect)
    with server:
        (reply,) = exchange(server, bytes(range(1, 10)) + b"\xff\xfe\x80", ERROR_QUERY[dialect])
        assert error_code(reply) in (-101, -285)
        (idn,) = exchange(server, b"*IDN?")
        assert idn.decode().startswith(("KEITHLEY", "Keithley", "Keysight"))
    assert server.handler_errors == []


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_over_long_line_is_discarded_with_input_overrun(dialect):
    inst, server = serve(dialect)
    with server:
        replies = exchange(server, b"A" * 10000, b"B" * 300000, b"*IDN?")
        assert len(replies) == 1 and replies[0].decode().startswith(
            ("KEITHLEY", "Keithley", "Keysight")
        )
        assert inst.errors() == [(-363, "Input buffer overrun")] * 2
    assert server.handler_errors == []


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_client_vanishing_mid_reply_leaves_the_server_working(dialect):
    inst, server = serve(dialect)
    big = {
        "keithley2400": b":OUTP ON;:TRIG:COUN 2500;:READ?",
        "keithley2450": b":SENS:COUN 2000;:READ?;:TRAC:DATA? 1, 2000",
        "keithley2600": b"smua.measure.count = 3000 smua.measure.i(smua.nvbuffer1) "
        b"printbuffer(1, 3000, smua.nvbuffer1.readings)",
        "keysight_b2900": b":TRIG1:COUN 2500;:READ:ARR? (@1)",
    }[dialect]
    with server:
        for _ in range(3):
            sock = socket.create_connection(server.address, timeout=2.0)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1024)
            sock.sendall(big + b"\n")
            sock.recv(10)  # the reply has started
            sock.close()
        (idn,) = exchange(server, b"*IDN?")
        assert idn
    assert server.handler_errors == []
