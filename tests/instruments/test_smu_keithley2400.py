"""Keithley 2400 driver: byte-exact protocol tests with pymeasure's expected_protocol."""

import math

import pytest
from pymeasure.instruments.keithley import Keithley2400
from pymeasure.test import expected_protocol

from instruments.errors import InstrumentTimeout
from instruments.smu import Keithley2400SourceMeter, Reading, SourceMeter

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


def test_output_control():
    pairs = [
        (":OUTP 1", None),
        (":OUTP?", "1"),
        (":OUTP ON", None),
        (":OUTP OFF", None),
        (":OUTP?", "0"),
    ]
    with proto(pairs) as smu:
        smu.output_enabled = True
        assert smu.output_enabled is True
        smu.enable_output()
        smu.disable_output()
        assert smu.output_enabled is False


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        # voltage, current, resistance (9.91e37 = not measured), time, status
        (
            "+5.000E-01,+1.234E-06,+9.910E+37,+1.0E+00,+0.0E+00",
            Reading(0.5, 1.234e-6, False, False),
        ),
        # status 8: bit 3, in compliance
        ("+5.000E-01,+1.000E-04,+9.910E+37,+1.0E+00,+8.0E+00", Reading(0.5, 1e-4, True, False)),
        # status 21512 has bit 3 set among others (V-source bit 14, I-meas bit 12, ...)
        ("+5.000E-01,+1.000E-04,+9.910E+37,+1.0E+00,+21512", Reading(0.5, 1e-4, True, False)),
    ],
)
def test_measure_current_decodes_status(reply, expected):
    with proto([(":READ?", reply)]) as smu:
        assert smu.measure_current() == expected


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
        Reading(0.0, 1e-9, False, False),
        Reading(0.1, 2e-6, False, False),
        Reading(0.2, 1e-4, True, False),
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
        (":SOURCE:VOLTAGE 0.1", None),
        (":SOURCE:VOLTAGE 0.2", None),
        (":SOURCE:VOLTAGE 0.3", None),
    ]
    waits = []
    with proto(pairs, sleep=waits.append) as smu:
        smu.ramp_to_voltage(0.3, step=0.1, rate_v_per_s=1.0)
    assert waits == pytest.approx([0.1, 0.1, 0.1])


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


def test_shutdown_sends_zero_volts_then_output_off():
    with proto([(":SOUR:VOLT 0", None), (":OUTP OFF", None)]) as smu:
        smu.shutdown()
        assert smu.isShutdown


def test_shutdown_sends_output_off_even_if_zero_volts_fails(mocker):
    with proto([(":OUTP OFF", None)]) as smu:
        real_write = smu.write

        def flaky(command, **kwargs):
            if command.startswith(":SOUR:VOLT"):
                raise OSError("GPIB write failed")
            real_write(command, **kwargs)

        spy = mocker.patch.object(smu, "write", side_effect=flaky)
        smu.shutdown()  # must not raise
    assert [c.args[0] for c in spy.call_args_list] == [":SOUR:VOLT 0", ":OUTP OFF"]


def test_shutdown_never_raises_when_everything_fails(mocker):
    with proto([]) as smu:
        mocker.patch.object(smu, "write", side_effect=OSError("dead bus"))
        smu.shutdown()
