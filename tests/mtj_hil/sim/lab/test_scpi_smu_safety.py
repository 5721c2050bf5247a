"""Virtual Keithley 2400: the safety hook and fault injection, driven line by line (no
sockets)."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtj_hil.sim.lab import DropConnection, VirtualSMU

from .conftest import R_LOAD, ask, drain, read_points, resistor

# ------------------------------------------------------------------------------ safety hook


def test_max_voltage_refuses_and_never_applies():
    smu = VirtualSMU(resistor, max_voltage=1.0)
    smu.handle(":OUTP ON;:SOUR:VOLT 0.9")
    smu.handle(":SOUR:VOLT 1.5")
    smu.handle(":SOUR:LIST:VOLT 0.5,-1.2")
    assert smu.level == 0.9
    assert [c for c, _ in smu.errors()] == [-222, -222]
    assert all(abs(a.voltage) <= 1.0 for a in smu.history)


commands = st.one_of(
    st.floats(-5, 5, allow_nan=False).map(lambda v: f":SOUR:VOLT {v:g}"),
    st.lists(st.floats(-5, 5, allow_nan=False), min_size=1, max_size=5).map(
        lambda vs: ":SOUR:LIST:VOLT " + ",".join(f"{v:g}" for v in vs)
    ),
    st.sampled_from(
        [
            ":OUTP ON",
            ":OUTP OFF",
            ":SOUR:VOLT:MODE LIST",
            ":SOUR:VOLT:MODE FIX",
            ":READ?",
            "*RST",
            ":TRIG:COUN 3",
        ]
    ),
)


@settings(max_examples=60, deadline=None)
@given(st.lists(commands, max_size=25))
def test_property_nothing_beyond_the_envelope_is_ever_applied(lines):
    smu = VirtualSMU(resistor, max_voltage=1.0)
    for line in lines:
        smu.handle(line)
    assert all(abs(a.voltage) <= 1.0 for a in smu.history)
    assert abs(smu.level) <= 1.0


# ------------------------------------------------------------------------------ fault injection


def test_drop_after_n_commands(smu):
    smu.drop_after(2)
    smu.handle("*CLS")
    smu.handle("*CLS")
    with pytest.raises(DropConnection):
        smu.handle("*IDN?")
    assert smu.handle("*OPC?") == "1"  # one-shot


def test_mute_queries_executes_but_does_not_answer(smu):
    smu.handle(":OUTP ON;:SOUR:VOLT 0.1")
    smu.mute_queries(2)
    assert smu.handle(":SOUR:VOLT 0.2") is None  # commands do not use up the count
    assert smu.handle(":READ?") is None
    assert smu.handle("*IDN?") is None
    assert smu.handle("*OPC?") == "1"
    assert smu.points_measured == 1


def test_garble_next_reply(smu):
    smu.garble_next_reply("\x00\xff")
    assert ask(smu, "*OPC?") == "\x00\xff1"
    assert ask(smu, "*OPC?") == "1"


def test_fail_next_command_queues_error_and_skips_it(smu):
    smu.fail_next(-200)
    assert smu.handle(":SOUR:VOLT 0.3") is None
    assert smu.level == 0.0
    assert drain(smu) == ['-200,"Execution error"']


def test_overflow_and_forced_compliance_faults(smu):
    smu.handle(":SENS:CURR:PROT 1e-3;:OUTP ON;:SOUR:VOLT 0.1;:TRIG:COUN 3")
    smu.overflow_next(1)
    smu.force_compliance(1)
    (a, b, c) = read_points(smu)
    assert a[1] == 9.9e37 and int(a[4]) & 1
    assert b[1] == 1e-3 and int(b[4]) & 8
    assert c[1] == pytest.approx(0.1 / R_LOAD) and int(c[4]) & 9 == 0
    smu.overflow_next(5)
    smu.clear_faults()
    assert read_points(smu)[0][1] == pytest.approx(0.1 / R_LOAD)


def test_constructor_validation():
    with pytest.raises(ValueError):
        VirtualSMU(resistor, line_frequency=55)
    with pytest.raises(ValueError):
        VirtualSMU(resistor, latency=-1)
    with pytest.raises(ValueError):
        VirtualSMU(resistor).mute_queries(-1)


def test_byte_order_is_normal_after_rst_and_swapped_after_preset():
    """2400 manual, Table 18-3: "*RST default is NORMal. :SYSTem:PRESet default is SWAPped"."""
    smu = VirtualSMU(lambda v: v / R_LOAD)
    smu.handle(":FORM:BORD SWAP;*RST")
    assert ask(smu, ":FORM:BORD?") == "NORM"
    smu.handle(":SYST:PRES")
    assert ask(smu, ":FORM:BORD?") == "SWAP"
    smu.handle(":OUTP ON;:SOUR:VOLT 0.43;:FORM:ELEM CURR;:FORM SRE")
    reply = ask(smu, ":READ?").encode("latin-1")
    assert reply[:2] == b"#0"
    assert struct.unpack("<f", reply[2:6])[0] == pytest.approx(0.43 / R_LOAD, rel=1e-6)
