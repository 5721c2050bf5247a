"""Keithley 2600 TSP driver (both channels): byte-exact protocol tests."""

import math

import pytest
from pymeasure.test import expected_protocol

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.instruments.smu import Keithley2600, Reading, SourceMeter
from mtj_hil.instruments.smu.keithley2600 import parse_tsp_error
from mtj_hil.instruments.smu.known_state import KnownState


def proto(pairs, **kwargs):
    return expected_protocol(Keithley2600, pairs, **kwargs)


def test_channels_satisfy_protocol_without_traffic():
    with proto([]) as k:
        assert isinstance(k.smua, SourceMeter)
        assert isinstance(k.smub, SourceMeter)


def test_bad_channel_list_rejected():
    with pytest.raises(ValueError):
        Keithley2600(object(), channels=("c",))


def test_idn_reset_and_channel_reset():
    pairs = [
        ("*IDN?", "Keithley Instruments Inc., Model 2602B, 4321, 3.2.2"),
        ("reset()", None),
        ("smub.reset()", None),
    ]
    with proto(pairs) as k:
        assert k.smua.idn == "Keithley Instruments Inc., Model 2602B, 4321, 3.2.2"
        k.reset()
        k.smub.reset()


@pytest.mark.parametrize("ch", ["a", "b"])
def test_source_voltage_per_channel(ch):
    pairs = [
        (f"smu{ch}.source.levelv = 0.5", None),
        (f"print(smu{ch}.source.levelv)", "5.00000e-01"),
    ]
    with proto(pairs) as k:
        smu = getattr(k, f"smu{ch}")
        smu.source_voltage = 0.5
        assert smu.source_voltage == 0.5


def test_limit_and_nplc():
    pairs = [
        ("smub.source.limiti = 1e-05", None),
        ("print(smub.source.limiti)", "1.00000e-05"),
        ("smua.measure.nplc = 0.5", None),
        ("print(smua.measure.nplc)", "5.00000e-01"),
    ]
    with proto(pairs) as k:
        k.smub.compliance_current = 1e-5
        assert k.smub.compliance_current == pytest.approx(1e-5)
        k.smua.nplc = 0.5
        assert k.smua.nplc == 0.5


@pytest.mark.parametrize(
    ("attr", "bad"),
    [
        ("compliance_current", 0.0),
        ("compliance_current", 4.0),
        ("nplc", 30),
        ("source_voltage", -201),
    ],
)
def test_out_of_range_rejected(attr, bad):
    with proto([]) as k, pytest.raises(ValueError, match="not in range"):
        setattr(k.smua, attr, bad)


def test_output_uses_tsp_constants_and_needs_the_known_state():
    pairs = [
        ("smua.source.output = smua.OUTPUT_ON", None),
        ("print(smua.source.output)", "1.00000e+00"),
        ("smub.source.output = smub.OUTPUT_OFF", None),
        ("print(smub.source.output)", "0.00000e+00"),
        ("smua.source.output = smua.OUTPUT_OFF", None),
    ]
    with proto(pairs) as k:
        with pytest.raises(InstrumentError, match="output-on refused"):
            k.smua.enable_output()
        k.smua.known_state = KnownState(())
        k.smua.enable_output()
        assert k.smua.output_enabled is True
        k.smub.disable_output()
        assert k.smub.output_enabled is False
        k.smua.output_enabled = False
        with pytest.raises(ValueError):
            k.smua.output_enabled = 1


MEAS_A = "print(smua.measure.i(), smua.source.levelv, smua.source.compliance, smua.source.output)"


@pytest.mark.parametrize(
    ("reply", "expected"),
    [
        ("1.23400e-06\t5.00000e-01\tfalse\t1.00000e+00", Reading(0.5, 1.234e-6, False, False)),
        ("1.00000e-04\t5.00000e-01\ttrue\t1.00000e+00", Reading(0.5, 1e-4, True, False)),
    ],
)
def test_measure_current(reply, expected):
    with proto([(MEAS_A, reply)]) as k:
        assert k.smua.measure_current() == expected


def test_measure_current_overflow_and_bad_reply():
    with proto([(MEAS_A, "9.91000e+37\t5.00000e-01\tfalse\t1.00000e+00"), (MEAS_A, "nil")]) as k:
        r = k.smua.measure_current()
        assert r.overflow and math.isnan(r.current)
        with pytest.raises(InstrumentError):
            k.smua.measure_current()


def test_compliance_tripped():
    with proto([("print(smub.source.compliance)", "true")]) as k:
        assert k.smub.compliance_tripped is True


def sweep_pairs(ch, values, n, reply):
    s = f"smu{ch}"
    return [
        (f"{s}.nvbuffer1.clear()", None),
        (f"{s}.nvbuffer1.collectsourcevalues = 1", None),
        (f"{s}.trigger.source.listv({{{values}}})", None),
        (f"{s}.trigger.source.action = {s}.ENABLE", None),
        (f"{s}.trigger.measure.i({s}.nvbuffer1)", None),
        (f"{s}.trigger.measure.action = {s}.ENABLE", None),
        (f"{s}.trigger.count = {n}", None),
        (f"{s}.trigger.initiate()", None),
        ("waitcomplete()", None),
        (
            f"printbuffer(1, {n}, {s}.nvbuffer1.readings, {s}.nvbuffer1.sourcevalues, "
            f"{s}.nvbuffer1.statuses, {s}.nvbuffer1.timestamps)",
            reply,
        ),
        (f"print({s}.source.output)", "1.00000e+00"),
        (f"{s}.trigger.source.action = {s}.DISABLE", None),
        (f"{s}.trigger.measure.action = {s}.DISABLE", None),
    ]


def test_sweep_decodes_compliance_bit_b6_overflow_and_timestamps():
    # reading, source value, status, timestamp; 68 = 0x40 compliance + 0x04 autorange
    reply = (
        "1.00000e-09, 0.00000e+00, 4.00000e+00, 1.00000e-02, "
        "1.00000e-04, 1.00000e-01, 6.80000e+01, 2.00000e-02, "
        "9.91000e+37, 2.00000e-01, 0.00000e+00, 3.00000e-02"
    )
    with proto(sweep_pairs("b", "0,0.1,0.2", 3, reply)) as k:
        readings = k.smub.sweep_voltages([0, 0.1, 0.2])
    assert readings[0] == Reading(0.0, 1e-9, False, False, timestamp=0.01)
    assert readings[1] == Reading(0.1, 1e-4, True, False, timestamp=0.02)
    # on the 2600, 9.91e37 is an over-range reading (its range compliance), not "no data"
    r = readings[2]
    assert r.overflow and not r.no_data and math.isnan(r.current) and r.voltage == 0.2


def test_sweep_disables_trigger_actions_even_if_readback_fails(mocker):
    pairs = sweep_pairs("a", "0.1", 1, None)
    del pairs[9:11]  # the printbuffer exchange and the output read never happen
    with proto(pairs) as k:
        real_write = k.write

        def flaky(command, **kwargs):
            if command.startswith("printbuffer"):
                raise InstrumentError("timeout")
            real_write(command, **kwargs)

        mocker.patch.object(k, "write", side_effect=flaky)
        with pytest.raises(InstrumentError):
            k.smua.sweep_voltages([0.1])


@pytest.mark.parametrize("bad", [[], [0.0] * 101, [250.0], [math.nan]])
def test_sweep_bad_arguments(bad):
    with proto([]) as k, pytest.raises(ValueError):
        k.smua.sweep_voltages(bad)


def test_ramp_on_channel_b():
    pairs = [
        ("print(smub.source.levelv)", "0.00000e+00"),
        ("print(smub.source.levelv)", "0.00000e+00"),  # the level is read twice
        ("smub.source.levelv = -0.05", None),
        ("smub.source.levelv = -0.1", None),
    ]
    waits = []
    with proto(pairs, sleep=waits.append) as k:
        k.smub.ramp_to_voltage(-0.1, step=0.05, rate_v_per_s=0.5)
    assert waits == pytest.approx([0.1, 0.1])


def test_ramp_bad_arguments():
    with proto([]) as k:
        for args in [(500, 0.1, 1), (1, 0, 1), (1, 0.1, 0)]:
            with pytest.raises(ValueError):
                k.smua.ramp_to_voltage(*args)


def test_errors_drain_tsp_queue():
    pairs = [
        (
            "print(errorqueue.next())",
            "-2.85000e+02\tTSP Syntax error at line 1: unexpected symbol near `*'\t2.00000e+01\t0.00000e+00",
        ),
        ("print(errorqueue.next())", "1.10200e+03\tParameter too small\t2.00000e+01\t0.00000e+00"),
        ("print(errorqueue.next())", "0.00000e+00\tQueue Is Empty\t0.00000e+00\t0.00000e+00"),
    ]
    with proto(pairs) as k:
        assert k.smub.errors() == [
            (-285, "TSP Syntax error at line 1: unexpected symbol near `*'"),
            (1102, "Parameter too small"),
        ]


def test_parse_tsp_error_rejects_garbage():
    with pytest.raises(InstrumentError):
        parse_tsp_error("oops")


def shutdown_pairs(ch, level="0.00000e+00"):
    s = f"smu{ch}"
    return [
        ("format.data = format.ASCII", None),  # replies readable whatever the last user set
        ("print(" + s + ".source.levelv)", level),
        ("print(" + s + ".source.levelv)", level),  # the level is read twice
        (f"{s}.source.levelv = 0", None),
        (f"{s}.source.output = {s}.OUTPUT_OFF", None),
        ("print(" + s + ".source.output)", "0.00000e+00"),
    ]


RECOVER_A = [("smua.abort()", None), ("print(errorqueue.next())", "0\tQueue Is Empty\t0\t0")]
IDN_2602B = ("*IDN?", "Keithley Instruments Inc., Model 2602B, 4321, 3.2.2")
IDN_2601B = ("*IDN?", "Keithley Instruments Inc., Model 2601B, 4321, 3.2.2")
# the channel the station does not use: found, made safe, reset and read back off
SECURE_B = [
    ("smub.abort()", None),
    ("print(smub.source.output)", "0.00000e+00"),
    ("print(smub.source.func)", "1.00000e+00"),
    ("print(smub.source.levelv)", "0.00000e+00"),
    ("print(smub.source.levelv)", "0.00000e+00"),  # the level is read twice
    ("print(smub.source.output)", "0.00000e+00"),
    ("smub.reset()", None),
    ("print(smub.source.output)", "0.00000e+00"),
]


def test_channel_shutdown_really_sends_output_off_and_checks_the_unused_channel():
    with proto(RECOVER_A + shutdown_pairs("a") + [IDN_2602B, *SECURE_B], channels=("a",)) as k:
        assert k.smua.shutdown() is True


def test_instrument_shutdown_covers_both_channels_despite_failure(mocker):
    recover = [
        ("smua.abort()", None),
        ("smub.abort()", None),
        ("print(errorqueue.next())", "0\tQueue Is Empty\t0\t0"),
    ]
    pairs = [
        *recover,
        ("format.data = format.ASCII", None),
        ("print(smua.source.levelv)", "0.00000e+00"),
        ("print(smua.source.levelv)", "0.00000e+00"),  # the level is read twice
        ("smua.source.output = smua.OUTPUT_OFF", None),
        ("print(smua.source.output)", "0.00000e+00"),
        *recover,
        *shutdown_pairs("b"),
        IDN_2602B,
    ]
    with proto(pairs) as k:
        real_write = k.write

        def flaky(command, **kwargs):
            if command == "smua.source.levelv = 0":
                raise OSError("socket closed")
            real_write(command, **kwargs)

        mocker.patch.object(k, "write", side_effect=flaky)
        assert k.shutdown() is True
        assert k.isShutdown


def test_single_channel_model_shuts_down_only_smua():
    with proto(RECOVER_A + shutdown_pairs("a") + [IDN_2601B], channels=("a",)) as k:
        assert k.shutdown() is True


def test_an_unused_channel_found_sourcing_current_is_switched_off_and_reported():
    found = [
        IDN_2602B,
        ("smub.abort()", None),
        ("print(smub.source.output)", "1.00000e+00"),
        ("print(smub.source.func)", "0.00000e+00"),
        ("print(smub.source.leveli)", "1.00000e-03"),
        ("smub.source.output = smub.OUTPUT_OFF", None),
        ("print(smub.source.output)", "0.00000e+00"),
        ("smub.reset()", None),
        ("print(smub.source.output)", "0.00000e+00"),
    ]
    with proto(found, channels=("a",)) as k:
        states = k.secure_unused(rate=1.0, step=0.05)
    b = states["b"]
    assert b.live and b.function == "CURR" and b.level == 1e-3 and b.secured and not b.used
    assert "output ON, current source at 0.001 A" in b.describe()
