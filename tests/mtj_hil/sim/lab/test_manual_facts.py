"""Facts checked against the manufacturers' manuals, pinned so that a regression fails.

Each test names its source. The 2400's "no measurement with the output off" (+803) is pinned in
``test_scpi_smu.py``; the power-on tables in ``test_dialects.py``.
"""

from __future__ import annotations

import struct

import pytest

from mtj_hil.sim.lab import make_virtual_smu

R_LOAD = 4.3e3  # ohm


def resistor(volts: float) -> float:
    return volts / R_LOAD


def ask(inst, line: str) -> str:
    reply = inst.handle(line)
    assert reply is not None, f"no reply to {line!r}; errors {inst.errors()}"
    return reply


# ------------------------------------------------------------------------------ Keithley 2602B
# 2600BS-901-01 Rev. F, section 9: smuX.source.limitY "Default value" 2601B/2602B/2604B:
# 1 A and 40 V; limits 10 nA..3 A and 10 mV..40 V. Series 2600 manual: a limit of 0 gives
# "Parameter too small" (error 1102); 1101 is "Parameter too big".


def test_2602b_reset_limits_are_1_a_and_40_v():
    inst = make_virtual_smu("keithley2600", resistor)
    inst.handle("smua.source.limiti = 1e-3 smua.source.limitv = 2 smub.source.limiti = 1e-3")
    inst.handle("smua.reset()")
    assert ask(inst, "print(smua.source.limiti, smua.source.limitv)") == "1.00000e+00\t4.00000e+01"
    assert ask(inst, "print(smub.source.limiti)") == "1.00000e-03"  # smua.reset() is per channel
    inst.handle("reset()")
    assert ask(inst, "print(smub.source.limiti, smub.source.limitv)") == "1.00000e+00\t4.00000e+01"
    assert inst.errors() == []


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("smua.source.limiti = 0", (1102, "Parameter too small")),
        ("smua.source.limiti = 5e-9", (1102, "Parameter too small")),
        ("smua.source.limiti = 3.5", (1101, "Parameter too big")),
        ("smua.source.limitv = 5e-3", (1102, "Parameter too small")),
        ("smua.source.limitv = 60", (1101, "Parameter too big")),
        ("smua.measure.nplc = 30", (1101, "Parameter too big")),
        ("smua.measure.nplc = 0.0001", (1102, "Parameter too small")),
    ],
)
def test_2602b_out_of_range_settings_queue_1101_too_big_or_1102_too_small(line, error):
    inst = make_virtual_smu("keithley2600", resistor)
    inst.handle(line)
    assert inst.errors() == [error]
    assert ask(inst, "print(smua.source.limiti, smua.source.limitv, smua.measure.nplc)") == (
        "1.00000e+00\t4.00000e+01\t1.00000e+00"  # nothing applied
    )


def test_2602b_accepts_its_smallest_limits():
    inst = make_virtual_smu("keithley2600", resistor)
    inst.handle("smua.source.limiti = 10e-9 smua.source.limitv = 10e-3")
    assert inst.errors() == []
    assert ask(inst, "print(smua.source.limiti, smua.source.limitv)") == "1.00000e-08\t1.00000e-02"


def test_2602b_current_ranges_have_no_1_5_a_range():
    """2602B current ranges: 100 nA..1 A in decades and 3 A (1.5 A is a 2634B..2636B range)."""
    inst = make_virtual_smu("keithley2600", resistor)
    inst.handle("smua.source.rangei = 1.2 smua.measure.rangei = 1.2")
    assert ask(inst, "print(smua.source.rangei, smua.measure.rangei)") == "3.00000e+00\t3.00000e+00"
    inst.handle("smua.measure.rangei = 50e-9")
    assert ask(inst, "print(smua.measure.rangei)") == "1.00000e-07"
    assert inst.errors() == []


# ------------------------------------------------------------------------------ Keysight B2900
# B2900 SCPI Command Reference, SENSe subsystem: :SENS:<f>:PROT "default is 100 uA or 2 V";
# :SENS:<f>:APERture "default is 0.1 PLC"; :NPLCycles 4E-4..100 (50 Hz) / 4.8E-4..120 (60 Hz),
# "If you specify the value less than MIN or greater than MAX, nplc is automatically set to MIN
# or MAX".


def test_b2900_reset_integration_time_is_0_1_plc_and_costs_that_on_the_clock():
    inst = make_virtual_smu("keysight_b2900", resistor, latency=0.0)
    inst.handle(":SENS1:CURR:NPLC 5;:SENS2:CURR:NPLC 5")
    inst.handle("*RST")
    assert ask(inst, ":SENS1:CURR:NPLC?;:SENS2:VOLT:NPLC?") == "+1.000000E-01;+1.000000E-01"
    assert ask(inst, ":SENS1:CURR:PROT?;:SENS1:VOLT:PROT?") == "+1.000000E-04;+2.000000E+00"
    before = inst.clock.now
    ask(inst, ":MEAS:CURR? (@1)")
    assert inst.clock.now - before == pytest.approx(0.1 / 60)


@pytest.mark.parametrize(
    ("line_frequency", "value", "expected"),
    [(60, "500", 120.0), (60, "1e-6", 4.8e-4), (50, "500", 100.0), (50, "1e-6", 4e-4),
     (60, "MAX", 120.0), (50, "MIN", 4e-4), (60, "2.5", 2.5)],
)  # fmt: skip
def test_b2900_nplc_outside_its_range_is_set_to_min_or_max_not_refused(
    line_frequency, value, expected
):
    inst = make_virtual_smu("keysight_b2900", resistor, line_frequency=line_frequency)
    inst.handle(f":SENS:CURR:NPLC {value}")
    assert inst.errors() == []
    assert float(ask(inst, ":SENS:CURR:NPLC?")) == pytest.approx(expected)


def test_b2900_trigger_count_all_node_is_optional_and_write_only():
    """``:TRIGger[c]<:ACQuire|:TRANsient|[:ALL]>:COUNt``: ALL is the default node and sets both
    actions; it has no query form (peer B2900 drivers treat it as write-only)."""
    inst = make_virtual_smu("keysight_b2900", resistor)
    inst.handle(":TRIG1:COUN 3;:TRIG2:ALL:COUN 4")
    assert inst.errors() == []
    assert ask(inst, ":TRIG1:ACQ:COUN?;:TRIG2:TRAN:COUN?") == "3;4"
    for query in (":TRIG1:COUN?", ":TRIG2:ALL:COUN?"):
        assert inst.handle(query) is None
    assert [code for code, _ in inst.errors()] == [-113, -113]


# B2900 SCPI Command Reference, ARM subsystem: ``:ARM[c]<:ACQuire|:TRANsient|[:ALL]>:COUNt``
# 1..100000 or INF, *RST 1; ``:DELay`` *RST 0; ``:SOURce`` *RST AINT; ``:BYPass`` *RST OFF.
# User's Guide "Trigger System": the trigger layer runs trigger-count times per arm pass, the arm
# layer arm-count times per INIT.


def test_b2900_arm_layer_reset_values_per_channel_and_action():
    inst = make_virtual_smu("keysight_b2900", resistor)
    inst.handle(":ARM1:COUN 5;:ARM2:ACQ:DEL 0.5;:ARM2:TRAN:SOUR BUS;:ARM1:ALL:BYP ONCE")
    assert inst.errors() == []
    inst.handle("*RST")
    for ch in "12":
        reply = ask(inst, f":ARM{ch}:ACQ:COUN?;:ARM{ch}:TRAN:COUN?;:ARM{ch}:ACQ:DEL?;"
                          f":ARM{ch}:TRAN:SOUR?;:ARM{ch}:ACQ:BYP?")  # fmt: skip
        assert reply == "1;1;+0.000000E+00;AINT;OFF"


def test_b2900_arm_count_all_node_sets_both_actions_and_is_write_only():
    inst = make_virtual_smu("keysight_b2900", resistor)
    inst.handle(":ARM1:COUN 3;:ARM2:ALL:COUN 4;:ARM2:TRAN:COUN 6")
    assert inst.errors() == []
    assert ask(inst, ":ARM1:ACQ:COUN?;:ARM1:TRAN:COUN?") == "3;3"
    assert ask(inst, ":ARM2:ACQ:COUN?;:ARM2:TRAN:COUN?") == "4;6"
    for query in (":ARM1:COUN?", ":ARM2:ALL:COUN?"):
        assert inst.handle(query) is None
    assert [code for code, _ in inst.errors()] == [-113, -113]
    inst.handle("*CLS;:ARM1:COUN 0")
    assert [code for code, _ in inst.errors()] == [-222]
    inst.handle(":ARM1:COUN INF")
    assert ask(inst, ":ARM1:ACQ:COUN?") == "2147483647"


def test_b2900_an_init_returns_arm_count_times_trigger_count_points():
    inst = make_virtual_smu("keysight_b2900", resistor, latency=0.0)
    inst.handle(":SOUR1:VOLT 0.2;:ARM1:COUN 2;:TRIG1:COUN 3;:INIT (@1)")
    currents = ask(inst, ":FETC:ARR:CURR? (@1)").split(",")
    assert len(currents) == 6
    assert float(currents[0]) == pytest.approx(0.2 / R_LOAD, rel=0.05)
    inst.handle(":ARM1:COUN 1")
    assert len(ask(inst, ":READ:ARR? (@1)").split(",")) == 3 * 6  # six sense elements
    assert inst.errors() == []
    inst.handle(":ARM1:COUN INF;:INIT (@1)")  # the model cannot run forever: refused
    assert [code for code, _ in inst.errors()] == [-221]


# ------------------------------------------------------------------------------ Keithley 2450
# :FORMat:BORDer NORMal|SWAPped, default SWAP (2461-901-01 and 2470-901-01 reference manuals,
# same SCPI command set as the 2450): NORMal sends byte 1 first, SWAPped byte 4 first.


def _binary_reading(inst) -> bytes:
    reply = ask(inst, ":READ?").encode("latin-1")
    assert reply.startswith(b"#14")  # one SREal value: 4 bytes in a definite-length block
    return reply[3:]


def test_2450_binary_byte_order_defaults_to_swapped_and_reset_restores_it():
    inst = make_virtual_smu("keithley2450", resistor)
    assert ask(inst, ":FORM:BORD?") == "SWAP"
    inst.handle(":SOUR:VOLT 0.43;:OUTP ON;:FORM SREAL")
    expected = 0.43 / R_LOAD
    assert struct.unpack("<f", _binary_reading(inst))[0] == pytest.approx(expected, rel=1e-6)
    inst.handle(":FORM:BORD NORM")
    assert ask(inst, ":FORM:BORD?") == "NORM"
    assert struct.unpack(">f", _binary_reading(inst))[0] == pytest.approx(expected, rel=1e-6)
    inst.handle("*RST")
    assert ask(inst, ":FORM:BORD?") == "SWAP"
    inst.handle(":FORM:BORD BIG")
    assert [code for code, _ in inst.errors()] == [-224]


def test_2450_source_status_bit_32_marks_a_limited_source():
    """2450 reference manual, ``bufferVar.sourcestatuses``: bit 5 (decimal 32) "source function
    was limited because the complementary function would be over the source limit"."""
    inst = make_virtual_smu("keithley2450", resistor)
    inst.handle(":SOUR:VOLT 0.1;:OUTP ON")
    free = ask(inst, ':READ? "defbuffer1", READ, SOURSTAT').split(",")
    inst.handle(":SOUR:VOLT:ILIM 1e-6")
    limited = ask(inst, ':READ? "defbuffer1", READ, SOURSTAT').split(",")
    assert int(float(free[1])) & 32 == 0
    assert int(float(limited[1])) & 32 == 32 and float(limited[0]) == pytest.approx(1e-6)


def test_2602b_buffer_status_marks_compliance_with_0x40_and_not_overrange_with_0x02():
    """2600B manual, ``bufferVar.statuses``: B6 (0x40) source limited; B1 (0x02) is over
    temperature. An over-range reading is 9.91E37 with no status bit of its own."""
    inst = make_virtual_smu("keithley2600", resistor)
    inst.handle("smua.source.levelv = 0.1 smua.source.limiti = 1e-6 smua.source.output = 1")
    inst.handle("smua.measure.i(smua.nvbuffer1)")
    inst.handle("smua.source.limiti = 1e-3")
    inst.overflow_next(1)
    inst.handle("smua.measure.i(smua.nvbuffer1)")
    reply = ask(inst, "printbuffer(1, 2, smua.nvbuffer1.readings, smua.nvbuffer1.statuses)")
    limited, status1, over, status2 = (float(x) for x in reply.split(","))
    assert limited == pytest.approx(1e-6) and int(status1) == 0x40
    assert over == 9.91e37 and int(status2) == 0


def test_b2902a_has_no_10_na_range():
    """B2900 User's Guide table 2-5: the 10 nA range is B2911A/B2912A only; a B2902A takes the
    smallest range that holds the value, 100 nA."""
    inst = make_virtual_smu("keysight_b2900", resistor)
    assert ask(inst, "*IDN?").split(",")[1] == "B2902A"
    inst.handle(":SENS1:CURR:RANG 1e-8;:SOUR1:CURR:RANG 5e-9")
    assert ask(inst, ":SENS1:CURR:RANG?;:SOUR1:CURR:RANG?") == "+1.000000E-07;+1.000000E-07"
    assert inst.errors() == []
