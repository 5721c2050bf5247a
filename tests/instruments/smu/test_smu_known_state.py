"""Known state on open, byte for byte (Keithley 2400 and 2450), and the refusals it leads to."""

from __future__ import annotations

import pytest
from pymeasure.test import expected_protocol

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.instruments.smu import Keithley2400SourceMeter, Keithley2450
from mtj_hil.instruments.smu.known_state import SmuSettings, check_range, smallest_covering

INIT = (":FORMAT:ELEMENTS VOLTAGE, CURRENT, RESISTANCE, TIME, STATUS", None)
SETTINGS = SmuSettings(max_voltage=0.3, compliance=1e-3, nplc=1.0, ramp_rate=1.0)

IDN_2400 = ("*IDN?", "KEITHLEY INSTRUMENTS INC.,MODEL 2400,1234,C30")
# output found on at 0.1 V: ramp down at 1 V/s in 0.05 V steps, then off and read back
MAKE_SAFE_2400 = [
    (":ABOR", None),
    (":OUTP?", "1"),
    (":SOUR:FUNC?", "VOLT"),
    (":SOURCE:VOLTAGE?", "1.000000E-01"),
    (":SOURCE:VOLTAGE?", "1.000000E-01"),  # the level is read twice
    (":SOUR:VOLT 0.05", None),
    (":SOUR:VOLT 0", None),
    (":OUTP OFF", None),
    (":OUTP?", "0"),
]
CLEAR_2400 = [(":OUTP:INT:TRIP?", "1"), ("*CLS", None), (":SYST:ERR?", '0,"No error"')]
SET_2400 = [
    ("*RST", None),
    (":SOUR:VOLT:RANG 0.3", None),
    (":SOUR:VOLT:PROT 20", None),
    (":SENS:CURR:PROT 0.001", None),
    (":SENS:CURR:NPLC 1", None),
]
READ_2400 = [
    (":SOUR:FUNC?", "VOLT"),
    (":SOUR:VOLT:MODE?", "FIX"),
    (":SENS:FUNC?", '"CURR:DC"'),
    (":FORM:DATA?", "ASC"),
    (":FORM:ELEM?", "VOLT,CURR,RES,TIME,STAT"),
    (":TRIG:COUN?", "1"),
    (":ARM:COUN?", "1"),
    (":ROUT:TERM?", "FRON"),
    (":SYST:RSEN?", "0"),
    (":SENS:AVER?", "0"),
    (":SYST:AZER?", "1"),
    (":SOUR:CLE:AUTO?", "0"),
    (":SOUR:DEL:AUTO?", "1"),
    (":TRIG:DEL?", "0.000000E+00"),
    (":ARM:SOUR?", "IMM"),
    (":TRIG:SOUR?", "IMM"),
    (":SENS:CURR:RANG:AUTO?", "1"),
    (":SOUR:VOLT?", "0.000000E+00"),
    (":SOUR:VOLT:RANG?", "2.100000E+00"),
    (":SOUR:VOLT:RANG:AUTO?", "0"),
    (":SOUR:VOLT:PROT?", "2.000000E+01"),
    (":SENS:CURR:PROT?", "1.000000E-03"),
    (":SENS:CURR:NPLC?", "1.000000E+00"),
    (":SYST:LFR?", "50"),
    (":SYST:ERR?", '0,"No error"'),
]
OFF_2400 = [IDN_2400, (":ABOR", None), (":OUTP?", "0"), (":SOUR:FUNC?", "VOLT"),
            (":SOURCE:VOLTAGE?", "0.000000E+00"), (":SOURCE:VOLTAGE?", "0.000000E+00"),
            (":OUTP?", "0")]  # fmt: skip


def test_2400_known_state_sequence_byte_for_byte_then_output_on():
    pairs = [
        INIT,
        IDN_2400,
        *MAKE_SAFE_2400,
        *CLEAR_2400,
        *SET_2400,
        *READ_2400,
        (":OUTP ON", None),
    ]
    waits = []
    with expected_protocol(Keithley2400SourceMeter, pairs, sleep=waits.append) as smu:
        state = smu.configure(SETTINGS)
        assert state.ok, state.problems()
        assert len(state.checks) == 24
        assert smu.found.live and smu.found.secured
        smu.enable_output()
    assert sum(waits) == pytest.approx(0.1)  # 0.1 V down at 1 V/s


def test_2400_a_unit_left_on_a_fixed_low_range_is_named_and_output_on_refused():
    reads = [
        (q, "0" if q == ":SENS:CURR:RANG:AUTO?" else r) for q, r in READ_2400
    ]  # the unit kept its fixed range
    pairs = [INIT, *OFF_2400, *CLEAR_2400, *SET_2400, *reads]
    with expected_protocol(Keithley2400SourceMeter, pairs) as smu:
        state = smu.configure(SETTINGS)
        assert not state.ok
        with pytest.raises(
            InstrumentError,
            match=r"output-on refused: current autorange: asked 1, instrument reports 0",
        ):
            smu.enable_output()


def test_2400_an_error_left_by_the_sequence_refuses_output_on():
    reads = [*READ_2400[:-1], (":SYST:ERR?", '-222,"Parameter data out of range"'),
             (":SYST:ERR?", '0,"No error"')]  # fmt: skip
    pairs = [INIT, *OFF_2400, *CLEAR_2400, *SET_2400, *reads]
    with expected_protocol(Keithley2400SourceMeter, pairs) as smu:
        assert smu.configure(SETTINGS).errors == ((-222, "Parameter data out of range"),)
        with pytest.raises(InstrumentError, match="error queue: -222"):
            smu.enable_output()


@pytest.mark.parametrize("lang", ["TSP", "SCPI2400"])
def test_2450_in_another_command_set_is_refused_before_anything_is_sent(lang):
    with expected_protocol(Keithley2450, [("*LANG?", lang)]) as smu:
        with pytest.raises(
            InstrumentError, match=rf"command set is {lang}.*\*LANG SCPI.*power-cycle"
        ):
            smu.configure(SETTINGS)
        with pytest.raises(InstrumentError, match="output-on refused"):
            smu.enable_output()


def test_2450_in_scpi_goes_on_and_ranges_are_the_smallest_holding_the_envelope():
    with expected_protocol(Keithley2450, [("*LANG?", "SCPI"), ("*IDN?", "MODEL 2450"),
                                          (":ABOR", None), (":OUTP?", "0"), (":SOUR:FUNC?", "VOLT"),
                                          (":SOUR:VOLT?", "0"), (":SOUR:VOLT?", "0"),
                                          (":OUTP?", "0"),
                                          (":OUTP:INT:TRIP?", "1"),
                                          ("*CLS", None), (":SYST:ERR?", '0,"No error"'),
                                          (":SYST:ERR?", '0,"No error"')]) as smu:  # fmt: skip
        smu._apply_known_state = lambda s: []  # the sequence itself is pinned for the 2400
        assert smu.configure(SETTINGS).ok
    assert smallest_covering(0.3, (0.02, 0.2, 2.0, 20.0, 200.0)) == 2.0
    assert smallest_covering(0.3, (2, 5, 10)) == 2
    assert check_range("r", 0.3, 2.0, "2.1").ok and not check_range("r", 0.3, 2.0, "21").ok
    assert not check_range("r", 0.3, 2.0, "0.2").ok
