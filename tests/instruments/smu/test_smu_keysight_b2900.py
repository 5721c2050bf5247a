"""Keysight B2900 SCPI driver (per-channel): byte-exact protocol tests."""

import math

import pytest
from pymeasure.test import expected_protocol

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.instruments.smu import KeysightB2900, Reading, SourceMeter
from mtj_hil.instruments.smu.known_state import KnownState, SmuSettings

INIT = (":FORM:ELEM:SENS CURR,TIME,STAT,SOUR", None)


def proto(pairs, **kwargs):
    return expected_protocol(KeysightB2900, pairs, **kwargs)


def test_channels_satisfy_protocol():
    with proto([]) as b:
        assert isinstance(b.ch1, SourceMeter) and isinstance(b.ch2, SourceMeter)


def test_bad_channel_list_rejected():
    with pytest.raises(ValueError):
        KeysightB2900(object(), channels=(3,))


def test_idn_and_reset_restores_format():
    pairs = [("*IDN?", "Keysight Technologies,B2902A,MY1234,3.4.2011.5100"), ("*RST", None), INIT]
    with proto(pairs) as b:
        assert b.ch2.idn.startswith("Keysight Technologies,B2902A")
        b.ch1.reset()


def test_controls_per_channel():
    pairs = [
        (":SOUR2:VOLT 0.3", None),
        (":SOUR2:VOLT?", "+3.000000E-01"),
        (":SENS1:CURR:PROT 0.001", None),
        (":SENS1:CURR:PROT?", "+1.000000E-03"),
        (":SENS1:CURR:NPLC 2", None),
        (":SENS1:CURR:NPLC?", "+2.000000E+00"),
        (":OUTP2 ON", None),
        (":OUTP2?", "1"),
        (":OUTP1 ON", None),
        (":OUTP1 OFF", None),
        (":SENS2:CURR:PROT:TRIP?", "1"),
    ]
    with proto(pairs) as b:
        b.ch2.source_voltage = 0.3
        assert b.ch2.source_voltage == 0.3
        b.ch1.compliance_current = 1e-3
        assert b.ch1.compliance_current == 1e-3
        b.ch1.nplc = 2
        assert b.ch1.nplc == 2
        with pytest.raises(InstrumentError, match="output-on refused"):
            b.ch2.output_enabled = True
        b.ch1.known_state = b.ch2.known_state = KnownState(())
        b.ch2.output_enabled = True
        assert b.ch2.output_enabled is True
        b.ch1.enable_output()
        b.ch1.disable_output()
        assert b.ch2.compliance_tripped is True


@pytest.mark.parametrize(
    ("attr", "bad"),
    [
        ("compliance_current", 0.0),
        ("compliance_current", 3.1),
        ("compliance_current", -1e-3),
        ("nplc", 200),
        ("source_voltage", 211),
    ],
)
def test_out_of_range_rejected(attr, bad):
    with proto([]) as b, pytest.raises(ValueError, match="not in range"):
        setattr(b.ch1, attr, bad)


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # current, time, status, source; status 0
        ("+1.0E-06,+1.5E+00,+0.0E+00,+5.0E-01", Reading(0.5, 1e-6, False, False, timestamp=1.5)),
        # status 2: bit 1 compliance
        ("+1.0E-03,+1.5E+00,+2.0E+00,+5.0E-01", Reading(0.5, 1e-3, True, False, timestamp=1.5)),
        # status 4: bit 2 compliance
        ("+1.0E-03,+1.5E+00,+4.0E+00,+5.0E-01", Reading(0.5, 1e-3, True, False, timestamp=1.5)),
        # status 8192: bit 13, measurement range overflow (range compliance)
        (
            "+1.05E-06,+1.5E+00,+8.192E+03,+5.0E-01",
            Reading(0.5, 1.05e-6, False, False, range_compliance=True, timestamp=1.5),
        ),
    ],
)
def test_measure_current_decodes_status(reply, expected):
    with proto([(":MEAS? (@1);:OUTP1?;:OUTP1:ON:AUTO?", reply + ";1;0")]) as b:
        assert b.ch1.measure_current() == expected


def test_measure_current_missing_data_is_no_data_not_overflow():
    with proto(
        [(":MEAS? (@2);:OUTP2?;:OUTP2:ON:AUTO?", "+9.910000E+37,+1.0E+00,+0.0E+00,+5.0E-01;1;0")]
    ) as b:
        r = b.ch2.measure_current()
    assert r.no_data and not r.overflow and math.isnan(r.current) and r.voltage == 0.5


def sweep_pairs(ch, values, n, reply):
    return [
        (f":SOUR{ch}:FUNC:MODE VOLT", None),
        (f":SOUR{ch}:VOLT:MODE LIST", None),
        (f":SOUR{ch}:LIST:VOLT {values}", None),
        (f":TRIG{ch}:COUN {n}", None),
        (f":INIT (@{ch})", None),
        ("*OPC?", "1"),
        (
            f":FETC:ARR? (@{ch});:OUTP{ch}?;:OUTP{ch}:ON:AUTO?",
            None if reply is None else reply + ";1;0",
        ),
        (f":SOUR{ch}:VOLT:MODE FIX", None),
        (f":TRIG{ch}:COUN 1", None),
    ]


def test_sweep_voltages():
    reply = "+1.0E-09,0.1,+0,+0.0E+00,+2.0E-05,0.2,+2,+1.0E-01,+9.91E+37,0.3,+0,+2.0E-01"
    with proto(sweep_pairs(1, "0,0.1,0.2", 3, reply)) as b:
        readings = b.ch1.sweep_voltages([0, 0.1, 0.2])
    assert readings[:2] == [
        Reading(0.0, 1e-9, False, False, timestamp=0.1),
        Reading(0.1, 2e-5, True, False, timestamp=0.2),
    ]
    assert readings[2].no_data and math.isnan(readings[2].current)


def test_sweep_restores_fixed_mode_when_opc_fails():
    pairs = sweep_pairs(2, "0.1", 1, None)
    pairs[5] = ("*OPC?", "0")
    del pairs[6]
    with proto(pairs) as b, pytest.raises(InstrumentError):
        b.ch2.sweep_voltages([0.1])


@pytest.mark.parametrize("bad", [[], [0.0] * 2501, [-250.0], [math.nan]])
def test_sweep_bad_arguments(bad):
    with proto([]) as b, pytest.raises(ValueError):
        b.ch1.sweep_voltages(bad)


def test_ramp():
    pairs = [
        (":SOUR1:VOLT?", "+2.000000E-01"),
        (":SOUR1:VOLT?", "+2.000000E-01"),  # the level is read twice
        (":SOUR1:VOLT 0.1", None),
        (":SOUR1:VOLT 0", None),
    ]
    waits = []
    with proto(pairs, sleep=waits.append) as b:
        b.ch1.ramp_to_voltage(0.0, step=0.1, rate_v_per_s=0.2)
    assert waits == pytest.approx([0.5, 0.5])


def test_ramp_bad_arguments():
    with proto([]) as b:
        for args in [(300, 0.1, 1), (1, 0, 1), (1, 0.1, math.nan)]:
            with pytest.raises(ValueError):
                b.ch1.ramp_to_voltage(*args)


def test_errors():
    pairs = [
        (":SYST:ERR?", '+101,"Invalid character"'),
        (":SYST:ERR?", '+0,"No error"'),
    ]
    with proto(pairs) as b:
        assert b.ch2.errors() == [(101, "Invalid character")]


RECOVER = [(":ABOR (@1)", None), (":ABOR (@2)", None), (":SYST:ERR?", '+0,"No error"')]
IDN_B2902 = ("*IDN?", "Keysight Technologies,B2902A,MY1234,3.4.2011.5100")


def test_shutdown_both_channels_output_off_despite_failure(mocker):
    pairs = [
        *RECOVER,
        (":SOUR1:VOLT?", "+0.0E+00"),
        (":SOUR1:VOLT?", "+0.0E+00"),  # the level is read twice
        (":OUTP1 OFF", None),
        (":OUTP1?", "0"),
        *RECOVER,
        (":SOUR2:VOLT?", "+0.0E+00"),
        (":SOUR2:VOLT?", "+0.0E+00"),  # the level is read twice
        (":SOUR2:VOLT 0", None),
        (":OUTP2 OFF", None),
        (":OUTP2?", "0"),
        IDN_B2902,
    ]
    with proto(pairs) as b:
        real_write = b.write

        def flaky(command, **kwargs):
            if command == ":SOUR1:VOLT 0":
                raise OSError("usb gone")
            real_write(command, **kwargs)

        mocker.patch.object(b, "write", side_effect=flaky)
        assert b.shutdown() is True
        assert b.isShutdown


def test_shutdown_single_channel_model():
    pairs = [
        (":ABOR (@1)", None),
        (":SYST:ERR?", '+0,"No error"'),
        (":SOUR1:VOLT?", "+1.0E-01"),
        (":SOUR1:VOLT?", "+1.0E-01"),  # the level is read twice
        (":SOUR1:VOLT 0.05", None),
        (":SOUR1:VOLT 0", None),
        (":SOUR1:VOLT 0", None),
        (":OUTP1 OFF", None),
        (":OUTP1?", "0"),
        ("*IDN?", "Keysight Technologies,B2901A,MY1234,3.4.2011.5100"),
    ]
    with proto(pairs, channels=(1,), sleep=lambda s: None) as b:
        assert b.shutdown() is True


# Known state, byte for byte (channel 2, fixed 1 uA current range): the arm count is set with
# the write-only ALL node and read back per action, like the trigger count.
KNOWN_SETTINGS = SmuSettings(max_voltage=0.3, compliance=1e-3, nplc=1.0, current_range=1e-6)
SET_B2900 = [
    ("*RST", None),
    (":FORM:ELEM:SENS CURR,TIME,STAT,SOUR", None),
    (":SOUR2:VOLT:RANG:AUTO OFF", None),
    (":SOUR2:VOLT:RANG 0.3", None),
    (":SENS2:CURR:PROT 0.001", None),
    (":SENS2:VOLT:PROT 0.3", None),
    (":OUTP2:PROT ON", None),
    (":OUTP2:ON:AUTO OFF", None),
    (":SENS2:CURR:NPLC 1", None),
    (":SENS2:CURR:RANG 1e-06", None),
]


def _read_b2900(arm_acq="1", arm_tran="1"):
    return [
        (":SOUR2:FUNC:MODE?", "VOLT"),
        (":SOUR2:FUNC:SHAP?", "DC"),
        (":SOUR2:VOLT:MODE?", "FIX"),
        (":SENS2:FUNC?", '"CURR"'),
        (":FORM:DATA?", "ASC"),
        (":TRIG2:ACQ:COUN?", "1"),
        (":TRIG2:TRAN:COUN?", "1"),
        (":ARM2:ACQ:COUN?", arm_acq),
        (":ARM2:TRAN:COUN?", arm_tran),
        (":SENS2:REM?", "0"),
        (":OUTP2:LOW?", "GRO"),
        (":ARM2:ACQ:SOUR?", "AINT"),
        (":ARM2:ACQ:DEL?", "+0.000000E+00"),
        (":TRIG2:ACQ:SOUR?", "AINT"),
        (":TRIG2:ACQ:DEL?", "+0.000000E+00"),
        (":OUTP2:OFF:AUTO?", "0"),
        (":FORM:ELEM:SENS?", "CURR,TIME,STAT,SOUR"),
        (":SOUR2:VOLT?", "+0.000000E+00"),
        (":SOUR2:VOLT:RANG:AUTO?", "0"),
        (":SOUR2:VOLT:RANG?", "+2.000000E+00"),
        (":SENS2:CURR:PROT?", "+1.000000E-03"),
        (":SENS2:VOLT:PROT?", "+3.000000E-01"),
        (":OUTP2:PROT?", "1"),
        (":OUTP2:ON:AUTO?", "0"),
        (":SENS2:CURR:NPLC?", "+1.000000E+00"),
        (":SYST:LFR?", "50"),
        (":SENS2:CURR:RANG?", "+1.000000E-06"),
        (":SYST:ERR?", '+0,"No error"'),
    ]


OPEN_B2900 = [
    IDN_B2902,
    (":ABOR (@2)", None),
    (":OUTP2?", "0"),
    (":SOUR2:FUNC:MODE?", "VOLT"),
    (":SOUR2:VOLT?", "+0.000000E+00"),
    (":SOUR2:VOLT?", "+0.000000E+00"),  # the level is read twice
    (":OUTP2?", "0"),
    IDN_B2902,  # which channels the unit has (both used here)
    ("*CLS", None),
    (":SYST:ERR?", '+0,"No error"'),
]


def test_known_state_sets_and_reads_back_the_arm_count_byte_for_byte():
    pairs = [*OPEN_B2900, *SET_B2900, *_read_b2900(), (":OUTP2 ON", None)]
    with proto(pairs) as b:
        state = b.ch2.configure(KNOWN_SETTINGS)
        assert state.ok, state.problems()
        names = [c.name for c in state.checks]
        assert "arm count (acquire)" in names and "arm count (transient)" in names
        b.ch2.enable_output()


def test_an_arm_count_that_did_not_take_is_named_and_output_on_refused():
    pairs = [*OPEN_B2900, *SET_B2900, *_read_b2900(arm_tran="4")]
    with proto(pairs) as b:
        state = b.ch2.configure(KNOWN_SETTINGS)
        assert not state.ok
        assert "arm count (transient)" in " ".join(state.problems())
        with pytest.raises(InstrumentError, match="arm count"):
            b.ch2.enable_output()


def test_a_reset_seen_in_a_reading_refuses_it():
    # *RST turns automatic output-on back on: the reading's own reply shows the reset
    from mtj_hil.instruments.errors import InstrumentStateLost

    pairs = [
        (":MEAS? (@1);:OUTP1?;:OUTP1:ON:AUTO?", "+1.0E-06,+1.5E+00,+0.0E+00,+5.0E-01;1;1"),
        ("*ESR?", "0"),
        IDN_B2902,
        (":STAT:QUES:COND?", "0"),
        IDN_B2902,  # which channels the unit has: both used here
        (":OUTP1?", "1"),
    ]
    with proto(pairs) as b:
        b.ch1._expect_output = True
        with pytest.raises(InstrumentStateLost, match="automatic output-on found ON"):
            b.ch1.measure_current()


def test_the_unused_channel_found_live_is_ramped_down_and_switched_off():
    pairs = [
        ("*IDN?", "Keysight Technologies,B2902A,MY1234,3.4.2011.5100"),
        (":ABOR (@2)", None),
        (":OUTP2?", "1"),
        (":SOUR2:FUNC:MODE?", "VOLT"),
        (":SOUR2:VOLT?", "+1.000000E-01"),
        (":SOUR2:VOLT?", "+1.000000E-01"),  # the level is read twice
        (":SOUR2:VOLT 0.05", None),
        (":SOUR2:VOLT 0", None),
        (":OUTP2 OFF", None),
        (":OUTP2?", "0"),
    ]
    waits = []
    with proto(pairs, channels=(1,), sleep=waits.append) as b:
        found = b.secure_unused(rate=1.0, step=0.05)
    assert found[2].live and found[2].secured and not found[2].used
    assert sum(waits) == pytest.approx(0.1)
