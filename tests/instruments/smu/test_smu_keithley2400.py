"""Keithley 2400 driver: byte-exact protocol tests with pymeasure's expected_protocol."""

import math

import pytest
from pymeasure.instruments.keithley import Keithley2400
from pymeasure.test import expected_protocol

from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout, SafetyViolation
from mtj_hil.instruments.smu import Keithley2400SourceMeter, Reading, SourceMeter
from mtj_hil.instruments.smu.known_state import KnownState, SmuSettings

SETTINGS = SmuSettings(max_voltage=0.3, compliance=1e-3, nplc=1.0, ramp_rate=2.0)

# pymeasure's Keithley2400.__init__ sends this; every exchange starts with it.
INIT = (":FORMAT:ELEMENTS VOLTAGE, CURRENT, RESISTANCE, TIME, STATUS", None)


def proto(pairs, **kwargs):
    return expected_protocol(Keithley2400SourceMeter, [INIT, *pairs], **kwargs)


def test_reuses_pymeasure_driver_and_satisfies_protocol():
    assert issubclass(Keithley2400SourceMeter, Keithley2400)
    with proto([]) as smu:
        assert isinstance(smu, SourceMeter)


def test_idn_and_reset_restores_data_format():
    with proto(
        [("*IDN?", "KEITHLEY INSTRUMENTS INC.,MODEL 2400,1234,C30\n"), ("*RST", None), INIT]
    ) as smu:
        assert smu.idn == "KEITHLEY INSTRUMENTS INC.,MODEL 2400,1234,C30"
        smu.reset()


def test_source_voltage_set_get():
    with proto([(":SOURCE:VOLTAGE 0.25", None), (":SOURCE:VOLTAGE?", "2.500000E-01")]) as smu:
        smu.source_voltage = 0.25
        assert smu.source_voltage == 0.25


def test_compliance_current_set_get():
    with proto([(":SENS:CURR:PROT 0.0001", None), (":SENS:CURR:PROT?", "1.000000E-04")]) as smu:
        smu.compliance_current = 1e-4
        assert smu.compliance_current == pytest.approx(1e-4)


@pytest.mark.parametrize("bad", [2.0, 1.06, 0.0, -1e-3, math.nan])
def test_compliance_out_of_range_rejected_before_sending(bad):
    with proto([]) as smu, pytest.raises(ValueError, match="not in range"):
        smu.compliance_current = bad


def test_nplc_set_get_and_range():
    with proto([(":SENS:CURR:NPLC 1", None), (":SENS:CURR:NPLC?", "1.000000E+00")]) as smu:
        smu.nplc = 1
        assert smu.nplc == 1.0
        with pytest.raises(ValueError, match="not in range"):
            smu.nplc = 20


def test_output_control_refuses_on_without_known_state():
    pairs = [(":OUTP?", "0"), (":OUTP ON", None), (":OUTP?", "1"), (":OUTP OFF", None)]
    with proto(pairs) as smu:
        assert smu.output_enabled is False
        with pytest.raises(InstrumentError, match="known-state sequence has not run"):
            smu.enable_output()
        smu.known_state = KnownState(())
        smu.output_enabled = True
        assert smu.output_enabled is True
        smu.disable_output()


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # voltage, current, resistance (9.91e37 = not measured), time, status
        (
            "+5.000E-01,+1.234E-06,+9.910E+37,+1.0E+00,+0.0E+00",
            Reading(0.5, 1.234e-6, False, False, timestamp=1.0),
        ),
        # status 8: bit 3, in compliance
        (
            "+5.000E-01,+1.000E-04,+9.910E+37,+1.0E+00,+8.0E+00",
            Reading(0.5, 1e-4, True, False, timestamp=1.0),
        ),
        # status 21512 has bit 3 set among others (V-source bit 14, I-meas bit 12, ...)
        (
            "+5.000E-01,+1.000E-04,+9.910E+37,+1.0E+00,+21512",
            Reading(0.5, 1e-4, True, False, timestamp=1.0),
        ),
        # status 65536: bit 16, range compliance (clipped by a fixed current range)
        (
            "+5.000E-01,+1.050E-06,+9.910E+37,+2.5E+00,+65536",
            Reading(0.5, 1.05e-6, False, False, range_compliance=True, timestamp=2.5),
        ),
    ],
)
def test_measure_current_decodes_status(reply, expected):
    with proto([(":READ?", reply)]) as smu:
        assert smu.measure_current() == expected


def test_measure_current_no_data_is_not_an_overflow():
    with proto([(":READ?", "+5.000E-01,+9.910E+37,+9.910E+37,+2.5E+00,+0")]) as smu:
        r = smu.measure_current()
    assert r.no_data and not r.overflow and math.isnan(r.current) and not r.trustworthy


def test_measure_current_overflow_is_nan_and_flagged():
    with proto([(":READ?", "+5.000E-01,+9.900E+37,+9.910E+37,+1.0E+00,+1.0E+00")]) as smu:
        r = smu.measure_current()
    assert r.overflow is True and math.isnan(r.current) and r.voltage == 0.5


def test_sweep_voltages_list_mode():
    reply = ",".join(
        [
            "0.0,1.0E-09,9.91E+37,0.1,0",
            "0.1,2.0E-06,9.91E+37,0.2,0",
            "0.2,1.0E-04,9.91E+37,0.3,8",
        ]
    )
    pairs = [
        (":SOUR:VOLT:MODE LIST", None),
        (":SOUR:LIST:VOLT 0,0.1,0.2", None),
        (":TRIG:COUN 3", None),
        (":READ?", reply),
        (":SOUR:VOLT:MODE FIX", None),
        (":TRIG:COUN 1", None),
    ]
    with proto(pairs) as smu:
        readings = smu.sweep_voltages([0.0, 0.1, 0.2])
    assert readings == [
        Reading(0.0, 1e-9, False, False, timestamp=0.1),
        Reading(0.1, 2e-6, False, False, timestamp=0.2),
        Reading(0.2, 1e-4, True, False, timestamp=0.3),
    ]


def test_sweep_longer_than_100_points_uses_append():
    volts = [round(0.001 * k, 3) for k in range(150)]
    first = ",".join(f"{v:g}" for v in volts[:100])
    rest = ",".join(f"{v:g}" for v in volts[100:])
    reply = ",".join(f"{v:g},1e-06,9.91e37,0,0" for v in volts)
    pairs = [
        (":SOUR:VOLT:MODE LIST", None),
        (f":SOUR:LIST:VOLT {first}", None),
        (f":SOUR:LIST:VOLT:APP {rest}", None),
        (":TRIG:COUN 150", None),
        (":READ?", reply),
        (":SOUR:VOLT:MODE FIX", None),
        (":TRIG:COUN 1", None),
    ]
    with proto(pairs) as smu:
        readings = smu.sweep_voltages(volts)
    assert [r.voltage for r in readings] == volts


def test_sweep_restores_fixed_mode_when_read_fails(mocker):
    pairs = [
        (":SOUR:VOLT:MODE LIST", None),
        (":SOUR:LIST:VOLT 0.1", None),
        (":TRIG:COUN 1", None),
        (":SOUR:VOLT:MODE FIX", None),
        (":TRIG:COUN 1", None),
    ]
    with proto(pairs) as smu:
        mocker.patch.object(smu, "ask", side_effect=InstrumentTimeout(":READ? timed out"))
        with pytest.raises(InstrumentTimeout):
            smu.sweep_voltages([0.1])


@pytest.mark.parametrize("bad", [[], [0.1] * 2501, [0.1, 250.0], [math.nan]])
def test_sweep_bad_arguments_rejected_before_sending(bad):
    with proto([]) as smu, pytest.raises(ValueError):
        smu.sweep_voltages(bad)


def test_ramp_to_voltage_steps_and_waits():
    pairs = [
        (":SOURCE:VOLTAGE?", "0.000000E+00"),
        (":SOURCE:VOLTAGE?", "0.000000E+00"),  # the level is read twice
        (":SOUR:VOLT 0.1", None),
        (":SOUR:VOLT 0.2", None),
        (":SOUR:VOLT 0.3", None),
    ]
    waits = []
    with proto(pairs, sleep=waits.append) as smu:
        smu.ramp_to_voltage(0.3, step=0.1, rate_v_per_s=1.0)
    assert waits == pytest.approx([0.1, 0.1, 0.1])


@pytest.mark.parametrize(
    "replies",
    [
        ("2.000000E-01", "1.000000E-01"),  # a late reply to another query, then the level
        ("garbage", "1.000000E-01"),
        ("2.000000E+01", "2.000000E+01"),  # beyond the configured bound: not believed
    ],
)
def test_a_ramp_from_a_level_not_confirmed_writes_nothing(replies):
    """A ramp started from a level read once: a stale 1 V reply while the output sat at
    0.1 V was ramped down from, first driving the output to 1 V."""
    pairs = [(":SOURCE:VOLTAGE?", r) for r in replies]
    with proto(pairs, sleep=lambda s: None) as smu:
        smu._settings = SETTINGS
        with pytest.raises(InstrumentError, match="nothing written"):
            smu.ramp_to_voltage(0.0, step=0.1, rate_v_per_s=1.0)


@pytest.mark.parametrize("target", [0.5, -0.5])
def test_ramp_beyond_the_configured_bound_is_refused_before_sending(target):
    with proto([], sleep=lambda s: None) as smu:
        smu._settings = SETTINGS
        with pytest.raises(SafetyViolation, match="configured"):
            smu.ramp_to_voltage(target, 0.1, 1.0)
        with pytest.raises(SafetyViolation, match="configured"):
            smu.sweep_voltages([0.1, target])


@pytest.mark.parametrize(
    ("target", "step", "rate"), [(300.0, 0.1, 1.0), (1.0, 0.0, 1.0), (1.0, 0.1, 0.0)]
)
def test_ramp_bad_arguments_rejected_before_sending(target, step, rate):
    with proto([], sleep=lambda s: None) as smu, pytest.raises(ValueError):
        smu.ramp_to_voltage(target, step, rate)


def test_errors_drains_queue():
    pairs = [
        (":SYST:ERR?", '-113,"Undefined header"'),
        (":SYST:ERR?", '-221,"Settings conflict"'),
        (":SYST:ERR?", '0,"No error"'),
    ]
    with proto(pairs) as smu:
        assert smu.errors() == [(-113, "Undefined header"), (-221, "Settings conflict")]


# shutdown: abort (recovery), error drain, ramp from the present level, 0 V, off, read-back
SHUTDOWN = [
    (":ABOR", None),
    (":SYST:ERR?", '0,"No error"'),
    (":SOURCE:VOLTAGE?", "2.000000E-01"),
    (":SOURCE:VOLTAGE?", "2.000000E-01"),  # the level is read twice
    (":SOUR:VOLT 0.15", None),
    (":SOUR:VOLT 0.1", None),
    (":SOUR:VOLT 0.05", None),
    (":SOUR:VOLT 0", None),
    (":SOUR:VOLT 0", None),
    (":OUTP OFF", None),
    (":OUTP?", "0"),
]


def test_shutdown_aborts_ramps_down_turns_off_and_confirms():
    waits = []
    with proto(SHUTDOWN, sleep=waits.append) as smu:
        smu._settings = SETTINGS
        assert smu.shutdown() is True
        assert smu.isShutdown and smu.known_state is None
    assert sum(waits) == pytest.approx(0.2 / SETTINGS.ramp_rate)


def test_shutdown_reports_unconfirmed_when_the_read_back_says_on(caplog):
    # off is sent and read back once more before the shutdown gives up
    pairs = [*SHUTDOWN[:-1], (":OUTP?", "1"), (":OUTP OFF", None), (":OUTP?", "1")]
    with proto(pairs, sleep=lambda s: None) as smu:
        smu._settings = SETTINGS
        assert smu.shutdown() is False
    assert "NOT confirmed" in caplog.text


def test_shutdown_sends_output_off_even_if_zero_volts_fails(mocker):
    with proto([(":ABOR", None), (":OUTP OFF", None)], sleep=lambda s: None) as smu:
        real_write = smu.write

        def flaky(command, **kwargs):
            if command.startswith(":SOUR:VOLT"):
                raise OSError("GPIB write failed")
            real_write(command, **kwargs)

        spy = mocker.patch.object(smu, "write", side_effect=flaky)
        mocker.patch.object(smu, "errors", return_value=[])
        mocker.patch.object(smu, "_read_level", return_value=0.1)
        mocker.patch.object(smu, "_read_output", return_value=False)
        assert smu.shutdown() is True  # must not raise; off confirmed by the read-back
    assert [c.args[0] for c in spy.call_args_list] == [
        ":SOUR:VOLT 0.05",  # the ramp fails at its first step ...
        ":SOUR:VOLT 0",  # ... the direct 0 V too ...
        ":OUTP OFF",  # ... and the output still goes off
    ]


def test_shutdown_never_raises_when_everything_fails(mocker):
    with proto([]) as smu:
        mocker.patch.object(smu, "write", side_effect=OSError("dead bus"))
        mocker.patch.object(smu, "_raw_write", side_effect=OSError("dead bus"))
        assert smu.shutdown() is False
