"""The standard event status register: ``*OPC`` sets bit 0 and each queued error its class's
bit (IEEE 488.2 11.5.1), so ``*STB?`` bit 5 and a service request follow, as a driver
waiting on ``*OPC`` plus SRQ relies on."""

from __future__ import annotations

import pytest

from mtj_hil.sim.lab import make_virtual_smu
from mtj_hil.sim.lab.smu.error_queue import event_bit

SCPI = ("keithley2400", "keithley2450", "keysight_b2900")


def _smu(dialect: str):
    inst = make_virtual_smu(dialect, lambda volts: volts / 1e3)
    inst.handle("*CLS")
    return inst


@pytest.mark.parametrize("dialect", SCPI)
def test_opc_sets_bit_0_and_the_status_byte_summarises_it(dialect):
    inst = _smu(dialect)
    inst.handle("*ESE 1;*SRE 32")
    inst.handle("*OPC")
    assert inst.handle("*STB?") == "96"  # ESB (32) and the master summary (64)
    assert inst.handle("*ESR?") == "1"
    assert inst.handle("*ESR?") == "0"  # read and cleared


@pytest.mark.parametrize("dialect", SCPI)
def test_errors_set_the_bit_of_their_class(dialect):
    inst = _smu(dialect)
    inst.handle(":NO:SUCH:HEADER")  # -113: command error
    assert inst.handle("*ESR?") == "32"
    inst.handle(":SOUR:VOLT 1000" if dialect != "keysight_b2900" else ":SOUR1:VOLT 1000")
    assert int(inst.handle("*ESR?")) & 16  # -222: execution error


def test_the_2600_opc_sets_its_standard_event_bit():
    inst = make_virtual_smu("keithley2600", lambda volts: volts / 1e3)
    inst.handle("*CLS")
    inst.handle("*OPC")
    assert float(inst.handle("print(status.standard.event)")) == 1.0


def test_event_bits_by_error_class():
    assert [event_bit(c) for c in (-113, -222, -350, -410, 802, 500, 0)] == [
        32,
        16,
        8,
        4,
        16,
        8,
        0,
    ]
