"""Keithley 2450 native-SCPI driver: byte-exact protocol tests."""

import math

import pytest
from pymeasure.test import expected_protocol

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.instruments.smu import Keithley2450, Reading, SourceMeter
from mtj_hil.instruments.smu.known_state import KnownState


def proto(pairs, **kwargs):
    return expected_protocol(Keithley2450, pairs, **kwargs)


def test_constructor_sends_nothing_and_satisfies_protocol():
    with proto([]) as smu:
        assert isinstance(smu, SourceMeter)


def test_idn_and_reset():
    with proto(
        [("*IDN?", "KEITHLEY INSTRUMENTS,MODEL 2450,04096331,1.7.12b"), ("*RST", None)]
    ) as smu:
        assert smu.idn.startswith("KEITHLEY INSTRUMENTS,MODEL 2450")
        smu.reset()


def test_source_voltage_set_get_and_range():
    with proto([(":SOUR:VOLT -1.5", None), (":SOUR:VOLT?", "-1.500000E+00")]) as smu:
        smu.source_voltage = -1.5
        assert smu.source_voltage == -1.5
        with pytest.raises(ValueError, match="not in range"):
            smu.source_voltage = 211


def test_current_limit_set_get():
    with proto([(":SOUR:VOLT:ILIM 1e-05", None), (":SOUR:VOLT:ILIM?", "1.000000E-05")]) as smu:
        smu.compliance_current = 1e-5
        assert smu.compliance_current == pytest.approx(1e-5)


@pytest.mark.parametrize("bad", [1.06, 5.0, 0.0, -1e-3, 1e-10, math.nan])
def test_current_limit_out_of_range_raises_instead_of_clipping(bad):
    with proto([]) as smu, pytest.raises(ValueError, match="not in range"):
        smu.compliance_current = bad


def test_nplc_and_output():
    pairs = [
        (":SENS:CURR:NPLC 0.1", None),
        (":SENS:CURR:NPLC?", "1.000000E-01"),
        (":OUTP ON", None),
        (":OUTP?", "1"),
        (":OUTP ON", None),
        (":OUTP OFF", None),
    ]
    with proto(pairs) as smu:
        smu.nplc = 0.1
        assert smu.nplc == pytest.approx(0.1)
        with pytest.raises(InstrumentError, match="output-on refused"):
            smu.output_enabled = True
        smu.known_state = KnownState(())
        smu.output_enabled = True
        assert smu.output_enabled is True
        smu.enable_output()
        smu.disable_output()
        with pytest.raises(ValueError, match="not in range"):
            smu.nplc = 0.001


# source value, reading, relative time (s), measure status (1 = questionable: clipped by a
# fixed range; 8 = front terminals), source status (32 = limited; 128 = output on)
@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("2.0E-01,3.5E-06,1.25,8,128", Reading(0.2, 3.5e-6, False, False, timestamp=1.25)),
        ("2.0E-01,1.0E-03,1.5,8,160", Reading(0.2, 1e-3, True, False, timestamp=1.5)),
        (
            "2.0E-01,1.05E-06,1.5,9,128",
            Reading(0.2, 1.05e-6, False, False, range_compliance=True, timestamp=1.5),
        ),
    ],
)
def test_measure_current_decodes_limit_range_and_time(reply, expected):
    with proto(
        [(':MEAS:CURR? "defbuffer1", SOUR, READ, REL, STAT, SOURSTAT;:OUTP?', reply + ";1")]
    ) as smu:
        assert smu.measure_current() == expected


def test_measure_current_overflow_and_no_data_are_distinct():
    pairs = [
        (
            ':MEAS:CURR? "defbuffer1", SOUR, READ, REL, STAT, SOURSTAT;:OUTP?',
            "2.0E-01,9.9E+37,1.0,8,128;1",
        ),
        (
            ':MEAS:CURR? "defbuffer1", SOUR, READ, REL, STAT, SOURSTAT;:OUTP?',
            "2.0E-01,9.91E+37,1.0,8,128;1",
        ),
    ]
    with proto(pairs) as smu:
        over, missing = smu.measure_current(), smu.measure_current()
    assert over.overflow and not over.no_data and math.isnan(over.current)
    assert missing.no_data and not missing.overflow and math.isnan(missing.current)


def test_measure_current_rejects_malformed_reply():
    reply = [(':MEAS:CURR? "defbuffer1", SOUR, READ, REL, STAT, SOURSTAT;:OUTP?', "2.0E-01;1")]
    with proto(reply) as smu, pytest.raises(InstrumentError):
        smu.measure_current()


def test_sweep_voltages():
    # source value, reading, relative time, measure status, source status
    reply = "0.0,1.0E-09,0.1,8,128,0.1,1.0E-05,0.2,8,160,0.2,9.9E+37,0.3,8,128"
    pairs = [
        (":SOUR:LIST:VOLT 0,0.1,0.2", None),
        (":SOUR:SWE:VOLT:LIST 1, 0, 1, OFF", None),
        (':TRAC:CLE "defbuffer1"', None),
        (":INIT", None),
        ("*WAI", None),
        (':TRAC:DATA? 1, 3, "defbuffer1", SOUR, READ, REL, STAT, SOURSTAT;:OUTP?', reply + ";1"),
    ]
    with proto(pairs) as smu:
        readings = smu.sweep_voltages([0, 0.1, 0.2])
    assert readings[0] == Reading(0.0, 1e-9, False, False, timestamp=0.1)
    assert readings[1] == Reading(0.1, 1e-5, True, False, timestamp=0.2)
    assert readings[2].overflow and math.isnan(readings[2].current)
    assert not readings[2].compliance


def test_sweep_wrong_point_count_raises():
    pairs = [
        (":SOUR:LIST:VOLT 0,0.1", None),
        (":SOUR:SWE:VOLT:LIST 1, 0, 1, OFF", None),
        (':TRAC:CLE "defbuffer1"', None),
        (":INIT", None),
        ("*WAI", None),
        (
            ':TRAC:DATA? 1, 2, "defbuffer1", SOUR, READ, REL, STAT, SOURSTAT;:OUTP?',
            "0,1e-9,0,8,0;1",
        ),
    ]
    with proto(pairs) as smu, pytest.raises(InstrumentError):
        smu.sweep_voltages([0, 0.1])


@pytest.mark.parametrize("bad", [[], [0.0] * 101, [215.0], [math.inf]])
def test_sweep_bad_arguments(bad):
    with proto([]) as smu, pytest.raises(ValueError):
        smu.sweep_voltages(bad)


def test_ramp_down():
    pairs = [
        (":SOUR:VOLT?", "1.000000E+00"),
        (":SOUR:VOLT?", "1.000000E+00"),  # the level is read twice
        (":SOUR:VOLT 0.5", None),
        (":SOUR:VOLT 0", None),
    ]
    waits = []
    with proto(pairs, sleep=waits.append) as smu:
        smu.ramp_to_voltage(0.0, step=0.5, rate_v_per_s=2.0)
    assert waits == pytest.approx([0.25, 0.25])


def test_ramp_to_present_level_sends_no_set():
    with proto([(":SOUR:VOLT?", "5.000000E-01")] * 2, sleep=lambda s: None) as smu:
        smu.ramp_to_voltage(0.5, step=0.1, rate_v_per_s=1.0)


@pytest.mark.parametrize(("target", "step", "rate"), [(-300, 0.1, 1), (1, -0.1, 1), (1, 0.1, -1)])
def test_ramp_bad_arguments(target, step, rate):
    with proto([], sleep=lambda s: None) as smu, pytest.raises(ValueError):
        smu.ramp_to_voltage(target, step, rate)


def test_errors_drains_queue():
    pairs = [
        (":SYST:ERR?", '-285,"Program syntax error"'),
        (":SYST:ERR?", '0,"No error"'),
    ]
    with proto(pairs) as smu:
        assert smu.errors() == [(-285, "Program syntax error")]


def test_errors_empty():
    with proto([(":SYST:ERR?", '0,"No error"')]) as smu:
        assert smu.errors() == []


def test_shutdown():
    pairs = [
        (":ABOR", None),
        (":SYST:ERR?", '0,"No error"'),
        (":SOUR:VOLT?", "0.000000E+00"),
        (":SOUR:VOLT?", "0.000000E+00"),  # the level is read twice
        (":SOUR:VOLT 0", None),
        (":OUTP OFF", None),
        (":OUTP?", "0"),
    ]
    with proto(pairs) as smu:
        assert smu.shutdown() is True


def test_shutdown_output_off_survives_failing_first_step(mocker):
    pairs = [(":ABOR", None), (":SYST:ERR?", '0,"No error"'), (":OUTP OFF", None), (":OUTP?", "0")]
    with proto(pairs) as smu:
        real_write = smu.write

        def flaky(command, **kwargs):
            if command == ":SOUR:VOLT 0":
                raise InstrumentError("write failed")
            real_write(command, **kwargs)

        mocker.patch.object(smu, "write", side_effect=flaky)
        mocker.patch.object(smu, "_read_level", side_effect=InstrumentError("no reply"))
        assert smu.shutdown() is True


def test_a_reading_taken_with_the_output_dropped_mid_run_is_refused_and_named():
    from mtj_hil.instruments.errors import InstrumentStateLost

    pairs = [
        (':MEAS:CURR? "defbuffer1", SOUR, READ, REL, STAT, SOURSTAT;:OUTP?', "0,0,1.0,0,0;0"),
        ("*ESR?", "128"),
        ("*IDN?", "KEITHLEY INSTRUMENTS,MODEL 2450,1,1"),
        (":OUTP:INT:TRIP?", "1"),
        (":OUTP?", "0"),
    ]
    with proto(pairs) as smu:
        smu._expect_output = True  # the run switched it on
        with pytest.raises(InstrumentStateLost, match="power-cycled.*output found OFF"):
            smu.measure_current()
