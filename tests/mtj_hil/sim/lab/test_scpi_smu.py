"""Virtual Keithley 2400: SCPI parser and source-measure model, driven line by line (no sockets)."""

from __future__ import annotations

import math
import struct
import threading

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from mtj_hil.sim.lab import Applied, DropConnection, HeaderPattern, VirtualClock, VirtualSMU

R_LOAD = 4.3e3  # ohm


def resistor(volts: float) -> float:
    return volts / R_LOAD


@pytest.fixture
def smu() -> VirtualSMU:
    return VirtualSMU(resistor)


def ask(smu: VirtualSMU, line: str) -> str:
    reply = smu.handle(line)
    assert reply is not None, f"no reply to {line!r}; errors {smu.errors()}"
    return reply


def read_points(smu: VirtualSMU) -> list[list[float]]:
    numbers = [float(x) for x in ask(smu, ":READ?").split(",")]
    width = len(smu.handle(":FORM:ELEM?").split(","))  # type: ignore[union-attr]
    return [numbers[i : i + width] for i in range(0, len(numbers), width)]


def drain(smu: VirtualSMU) -> list[str]:
    found = []
    while (reply := ask(smu, ":SYST:ERR?")) != '0,"No error"':
        found.append(reply)
    return found


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


# ------------------------------------------------------------------------------ measurement model


def test_read_with_the_output_off_is_refused_with_803_and_no_reply():
    """2400 manual, :READ?: with auto output-off disabled "the output must be turned on before
    you can perform a :READ?"; +803 "Not permitted with OUTPUT off" (Table B-1)."""
    calls = []
    smu = VirtualSMU(lambda v: calls.append(v) or v / R_LOAD)
    smu.handle(":SOUR:VOLT 0.5")
    for query in (":READ?", ":INIT"):
        assert smu.handle(query) is None
    assert smu.errors() == [(803, "Not permitted with OUTPUT off")] * 2
    assert calls == [] and smu.points_measured == 0 and not smu.output
    assert smu.handle(":FETC?") is None and smu.errors()[-1][0] == -230  # nothing to fetch


def test_auto_output_off_measures_with_the_output_on_and_leaves_it_off():
    """``:SOUR:CLE:AUTO ON``: the source turns on for the measurement and off after it."""
    smu = VirtualSMU(lambda v: v / R_LOAD)
    smu.handle(":SOUR:VOLT 0.4;:SOUR:CLE:AUTO ON")
    [[volts, amps, *_]] = read_points(smu)
    assert (volts, amps) == (0.4, pytest.approx(0.4 / R_LOAD))
    assert smu.errors() == [] and not smu.output
    assert smu.history[-2:] == [Applied(0.4, True), Applied(0.4, False)]


def test_resistor_reading(smu):
    smu.handle(":SOUR:VOLT 0.1;:SENS:CURR:PROT 1e-3;:OUTP ON")
    [[volts, amps, res, _t, status]] = read_points(smu)
    assert volts == 0.1
    assert amps == pytest.approx(0.1 / R_LOAD, rel=1e-6)
    assert res == 9.91e37  # resistance not measured
    assert int(status) & (1 << 3) == 0


def test_resistance_element_when_sensed(smu):
    smu.handle(":SOUR:VOLT 0.2;:SENS:CURR:PROT 1e-3;:SENS:FUNC 'RES'")
    values = [float(x) for x in ask(smu, ":MEAS:RES?").split(",")]
    assert smu.output  # CONFigure/MEASure turns the output on, like the instrument
    assert values[2] == pytest.approx(R_LOAD, rel=1e-5)


def test_compliance_clamps_and_sets_bit_3(smu):
    smu.handle(":SENS:CURR:PROT 1e-5;:SOUR:VOLT -0.5;:OUTP ON")  # would be -116 uA
    [[_v, amps, _r, _t, status]] = read_points(smu)
    assert amps == -1e-5
    assert int(status) & (1 << 3)


def test_fixed_current_range_gives_range_compliance(smu):
    smu.handle(":SENS:CURR:PROT 1e-3;:SENS:CURR:RANG 1e-5;:SOUR:VOLT 0.5;:OUTP ON")
    [[_v, amps, _r, _t, status]] = read_points(smu)
    assert amps == pytest.approx(1.05e-5)
    assert int(status) & (1 << 16) and not int(status) & (1 << 3)


def test_non_finite_load_reads_overflow():
    smu = VirtualSMU(lambda v: math.nan)
    smu.handle(":OUTP ON;:SOUR:VOLT 0.1")
    [[_v, amps, _r, _t, status]] = read_points(smu)
    assert amps == 9.9e37 and int(status) & 1


def test_list_sweep_wraps_and_returns_to_bias_level(smu):
    smu.handle(":SENS:CURR:PROT 1e-3;:SOUR:VOLT 0.05;:OUTP ON")
    smu.handle(":SOUR:VOLT:MODE LIST;:SOUR:LIST:VOLT 0.1,0.2")
    smu.handle(":SOUR:LIST:VOLT:APP -0.3")
    assert ask(smu, ":SOUR:LIST:VOLT:POIN?") == "3"
    smu.handle(":TRIG:COUN 5")
    points = read_points(smu)
    assert [p[0] for p in points] == [0.1, 0.2, -0.3, 0.1, 0.2]
    assert [p[1] for p in points] == pytest.approx([v / R_LOAD for v in (0.1, 0.2, -0.3, 0.1, 0.2)])
    times = [p[3] for p in points]
    assert times == sorted(times) and len(set(times)) == 5
    assert smu.history[-1] == Applied(0.05, True)
    assert smu.terminal_voltage == 0.05


def test_list_too_long_is_refused(smu):
    values = ",".join(["0.1"] * 100)
    smu.handle(f":SOUR:LIST:VOLT {values}")
    for _ in range(24):
        smu.handle(f":SOUR:LIST:VOLT:APP {values}")
    assert smu.errors() == []
    smu.handle(":SOUR:LIST:VOLT:APP 0.1")
    assert smu.errors() == [(-223, "Too much data")]


def test_init_then_fetch(smu):
    smu.handle(":OUTP ON;:SOUR:VOLT 0.1;:INIT")
    first = ask(smu, ":FETC?")
    assert ask(smu, ":FETCh?") == first


# ------------------------------------------------------------------------------ timing


def test_clock_books_latency_and_integration_time():
    clock = VirtualClock()
    smu = VirtualSMU(resistor, clock=clock, latency=1e-3, line_frequency=50)
    lines = [
        ":SENS:CURR:NPLC 2",
        ":OUTP ON",
        ":SOUR:VOLT:MODE LIST",
        ":SOUR:LIST:VOLT 0,0.1,0.2,0.3",
        ":TRIG:COUN 4",
        ":READ?",
        ":SOUR:VOLT:MODE FIX;:TRIG:COUN 1",
        ":READ?",
    ]
    for line in lines:
        smu.handle(line)
    assert clock.transactions == len(lines)
    assert smu.points_measured == 5
    assert clock.now == pytest.approx(len(lines) * 1e-3 + 5 * 2 / 50)
    clock.reset()
    assert (clock.now, clock.transactions) == (0.0, 0)


def test_line_frequency_setting_changes_integration_time(smu):
    smu.handle(":SYST:LFR 50;:OUTP ON")
    assert ask(smu, ":SYST:LFR?") == "50"
    before = smu.clock.now
    smu.handle(":READ?")
    assert smu.clock.now - before == pytest.approx(smu.latency + 1 / 50)


def test_clock_is_thread_safe():
    clock = VirtualClock()

    def work():
        for _ in range(1000):
            clock.transaction(1e-3)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert clock.transactions == 4000
    assert clock.now == pytest.approx(4.0)
    with pytest.raises(ValueError):
        clock.advance(-1)


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
