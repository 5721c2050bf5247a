"""Tests of instruments/bus/visa_session.py against a virtual SMU over a raw TCP socket."""

from __future__ import annotations

import socket
import statistics
import time

import pytest

from mtj_hil.instruments.bus.raw_socket import raw_socket
from mtj_hil.instruments.bus.visa_session import open_visa_adapter
from mtj_hil.sim.lab.lab import VirtualLab


@pytest.fixture(scope="module")
def adapter():
    with VirtualLab() as lab:
        opened = open_visa_adapter(lab.smu_resource, name="smu", timeout_s=2.0)
        yield opened
        opened.close()


def test_a_raw_socket_session_sends_each_command_at_once(adapter) -> None:
    # VISA's default (VPP-4.3: VI_ATTR_TCPIP_NODELAY is true); pyvisa-py leaves Nagle on
    sock = raw_socket(adapter.connection)
    assert sock is not None
    assert sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY) == 1


def test_a_write_then_a_query_does_not_wait_for_a_delayed_ack(adapter) -> None:
    # with Nagle on, the query after a write waits for the instrument's delayed ACK, a
    # kernel timer of at least 40 ms on Linux, in every round but the first (44 ms each
    # here); without it a round takes about 1 ms
    adapter.write("*RST")
    rounds = []
    for _ in range(20):
        start = time.perf_counter()
        adapter.write(":SOUR:VOLT 0")
        adapter.write(":SOUR:VOLT:RANG 2")
        adapter.write(":OUTP?")
        assert adapter.read().strip() == "0"
        rounds.append(time.perf_counter() - start)
    assert statistics.median(rounds) < 0.02
