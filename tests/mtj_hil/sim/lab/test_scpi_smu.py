"""Virtual Keithley 2400: SCPI parser, basic commands and the error queue, driven line by
line (no sockets)."""

from __future__ import annotations

import pytest

from mtj_hil.sim.lab import Applied, HeaderPattern, VirtualSMU

from .conftest import R_LOAD, ask, drain, read_points

# ------------------------------------------------------------------------------ header matching


@pytest.mark.parametrize(
    "header",
    [
        "SOUR:VOLT",
        "SOURCE:VOLTAGE",
        "VOLT",
        "sour:volt:lev",
        "Source:Voltage:Level:Immediate:Amplitude",
        "SOUR:VOLT:IMM",
        "VOLT:LEV:AMPL",
    ],
)
def test_header_pattern_accepts_short_long_optional_and_any_case(header):
    pattern = HeaderPattern("[:SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    assert pattern.matches(header.upper().split(":"))


@pytest.mark.parametrize("header", ["SOURC:VOLT", "SOUR:VOL", "SOUR:VOLT:MODE", "SOUR", "LEV:VOLT"])
def test_header_pattern_rejects_partial_and_misordered_forms(header):
    pattern = HeaderPattern("[:SOURce]:VOLTage[:LEVel][:IMMediate][:AMPLitude]")
    assert not pattern.matches(header.split(":"))


def test_header_pattern_numeric_suffix():
    pattern = HeaderPattern(":CALCulate3:DATA")
    assert pattern.matches(["CALC3", "DATA"])
    assert not pattern.matches(["CALC", "DATA"])
    assert not pattern.matches(["CALC2", "DATA"])
    assert HeaderPattern("[:SENSe]:FUNCtion").matches(["SENS1", "FUNC"])


# ------------------------------------------------------------------------------ basic commands


def test_idn_opc_and_empty_error_queue(smu):
    assert ask(smu, "*IDN?") == "KEITHLEY INSTRUMENTS INC.,MODEL 2400,4045123,C30 (virtual)"
    assert ask(smu, "*idn?").startswith("KEITHLEY")
    assert ask(smu, "*OPC?") == "1"
    assert ask(smu, ":SYST:ERR?") == '0,"No error"'
    assert ask(smu, "SYSTem:ERRor:NEXT?") == '0,"No error"'


@pytest.mark.parametrize(
    ("write", "query"),
    [
        (":SOUR:VOLT:LEV 0.25", ":SOUR:VOLT?"),
        (":SOURce:VOLTage:LEVel:IMMediate:AMPLitude 0.25", ":SOURCE:VOLTAGE?"),
        ("sour:volt 0.25", "volt?"),
        (":VOLT 250e-3", ":source:voltage:level?"),
    ],
)
def test_source_level_short_and_long_forms(smu, write, query):
    assert smu.handle(write) is None
    assert float(ask(smu, query)) == 0.25
    assert smu.level == 0.25
    assert drain(smu) == []


def test_numbers_are_formatted_like_the_instrument(smu):
    smu.handle(":SENS:CURR:PROT 1e-3")
    assert ask(smu, ":SENS:CURR:PROT?") == "+1.000000E-03"
    assert ask(smu, ":SENSE:CURRENT:PROTECTION?") == "+1.000000E-03"


def test_min_max_keywords(smu):
    smu.handle(":SENS:CURR:NPLC MAX")
    assert float(ask(smu, ":SENS:CURR:NPLC?")) == 10.0
    smu.handle(":SENS:CURR:NPLC min")
    assert float(ask(smu, ":SENS:VOLT:NPLC?")) == 0.01  # NPLC is global on the 2400


def test_output_on_off_forms(smu):
    for line, expected in [
        (":OUTP ON", "1"),
        ("OUTPUT 0", "0"),
        (":OUTP:STAT 1", "1"),
        (":outp off", "0"),
    ]:
        smu.handle(line)
        assert ask(smu, ":OUTP?") == expected
    assert drain(smu) == []


def test_compound_line_with_relative_path_and_trailing_semicolon(smu):
    # pymeasure sends exactly this from Keithley2400.measure_current()
    assert smu.handle(":SENS:FUNC 'CURR';:SENS:CURR:NPLC 0.500000;") is None
    assert smu.nplc == 0.5
    # relative header after ';' continues at the previous node (:SENS:CURR:)
    assert ask(smu, ":SENS:CURR:PROT 2e-3;NPLC 2;PROT?") == "+2.000000E-03"
    assert smu.nplc == 2.0
    assert ask(smu, "*IDN?;:OUTP?").endswith(";0")
    assert drain(smu) == []


def test_format_elements_subset_keeps_instrument_order(smu):
    smu.handle(":FORM:ELEM STAT, CURR")
    assert ask(smu, ":FORM:ELEM?") == "CURR,STAT"
    smu.handle(":OUTP ON;:SOUR:VOLT 0.43")
    [[current, status]] = read_points(smu)
    assert current == pytest.approx(1e-4)
    assert int(status) & (1 << 3) == 0


def test_reset_restores_defaults_but_keeps_error_queue(smu):
    smu.handle(":SOUR:VOLT 1;:OUTP ON;:SENS:CURR:NPLC 5;:TRIG:COUN 7;:FORM:ELEM CURR")
    smu.handle(":NOPE")
    smu.handle("*RST")
    assert ask(smu, ":SOUR:VOLT?") == "+0.000000E+00"
    assert ask(smu, ":OUTP?") == "0"
    assert float(ask(smu, ":SENS:CURR:NPLC?")) == 1.0
    assert ask(smu, ":TRIG:COUN?") == "1"
    assert ask(smu, ":FORM:ELEM?") == "VOLT,CURR,RES,TIME,STAT"
    assert float(ask(smu, ":SENS:CURR:PROT?")) == pytest.approx(105e-6)
    assert ask(smu, ":SOUR:VOLT:MODE?") == "FIX"
    assert smu.history[-1] == Applied(0.0, False)
    assert drain(smu) == ['-113,"Undefined header"']


def test_cls_clears_error_queue_and_stb_reports_it(smu):
    smu.handle(":NOPE")
    assert ask(smu, "*STB?") == "4"
    smu.handle("*CLS")
    assert ask(smu, "*STB?") == "0"
    assert drain(smu) == []


# ------------------------------------------------------------------------------ errors


@pytest.mark.parametrize(
    ("line", "code"),
    [
        (":FOO:BAR 1", -113),
        ("*XYZ", -113),
        (":SOUR:VOLTAGEX 1", -113),
        (":SYST:ERR 1", -113),  # query-only header used as a command
        (":READ", -113),
        (":SOUR:VOLT 211", -222),
        (":SOUR:VOLT abc", -104),
        (":SOUR:VOLT", -109),
        (":SOUR:VOLT 1,2", -108),
        ("*IDN? 1", -108),
        (":SENS:CURR:PROT 2", -222),
        (":SENS:CURR:PROT 0", -222),
        (":SENS:CURR:NPLC 20", -222),
        (":OUTP MAYBE", -224),
        (":SOUR:VOLT:MODE BANANA", -224),
        (":FORM:ELEM VOLT,WATT", -224),
        (":SYST:LFR 55", -222),
        (":SOUR:VOLT::LEV 1", -102),
        (":SOUR:VOLT 1,,2", -102),
        (":SENS:FUNC 'CURR", -102),
        (":SOUR:VOLT 1\x01", -101),
        (":SOUR:VOLT nan", -222),
        (":SOUR:VOLT 1_0", -104),  # Python's digit separator: IEEE 488.2 7.7.2 has none
        (":SOUR:VOLT 0x1", -104),
        (":SOUR:VOLT 1e1_0", -104),
        (":OUTP 0_1", -224),
        (":TRIG:COUN 2501", -222),
        (":FETC?", -230),
    ],
)
def test_bad_commands_queue_a_scpi_error(smu, line, code):
    assert smu.handle(line) is None
    errors = smu.errors()
    assert [c for c, _ in errors] == [code], errors
    assert smu.level == 0.0 and not smu.output


def test_error_messages_are_standard_text(smu):
    smu.handle(":NOPE")
    smu.handle(":SOUR:VOLT 500")
    assert drain(smu) == ['-113,"Undefined header"', '-222,"Data out of range"']


def test_error_stops_the_rest_of_the_line(smu):
    assert smu.handle(":SOUR:VOLT 0.1;:BAD;:SOUR:VOLT 0.2") is None
    assert smu.level == 0.1
    assert drain(smu) == ['-113,"Undefined header"']


def test_error_queue_overflow(smu):
    for _ in range(15):
        smu.handle(":NOPE")
    errors = smu.errors()
    assert len(errors) == VirtualSMU.ERROR_QUEUE_SIZE
    assert errors[-1] == (-350, "Queue overflow")
    assert errors[0] == (-113, "Undefined header")


def test_error_all_and_count(smu):
    smu.handle(":NOPE")
    smu.handle(":SOUR:VOLT 999")
    assert ask(smu, ":SYST:ERR:COUN?") == "2"
    assert ask(smu, ":SYST:ERR:ALL?") == '-113,"Undefined header",-222,"Data out of range"'
    assert ask(smu, ":SYST:ERR:ALL?") == '0,"No error"'


def test_current_source_drives_the_load_to_its_voltage(smu):
    smu.handle(":SOUR:FUNC CURR;:SOUR:CURR 1E-5;:SENS:VOLT:PROT 20;:FORM:ELEM VOLT,CURR,STAT")
    assert ask(smu, ":SOUR:FUNC?") == "CURR"
    smu.handle(":OUTP ON")
    volts, amps, status = read_points(smu)[0]
    assert volts == pytest.approx(1e-5 * R_LOAD, rel=1e-6)
    assert amps == pytest.approx(1e-5, rel=1e-6)
    assert not int(status) & 8
    assert smu.terminal_voltage == pytest.approx(1e-5 * R_LOAD, rel=1e-6)
    assert smu.history[-1].function == "CURR"


def test_current_source_voltage_compliance(smu):
    smu.handle(":SOUR:FUNC CURR;:SOUR:CURR 1E-3;:SENS:VOLT:PROT 2;:FORM:ELEM VOLT,CURR,STAT")
    smu.handle(":OUTP ON")
    volts, amps, status = read_points(smu)[0]
    assert volts == pytest.approx(2.0)
    assert amps == pytest.approx(2.0 / R_LOAD)
    assert int(status) & 8  # compliance
