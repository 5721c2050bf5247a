"""Virtual Keithley 2400: the source-measure model and its timing, driven line by line (no
sockets)."""

from __future__ import annotations

import math
import threading

import pytest

from mtj_hil.sim.lab import Applied, VirtualClock, VirtualSMU

from .conftest import R_LOAD, ask, read_points, resistor

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
