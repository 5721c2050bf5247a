"""The four virtual SMU dialects at the wire level (``handle(line)``): defaults, *RST, ranges,
limits, integration time on the virtual clock, sweep durations, error queues, start states."""

from __future__ import annotations

import dataclasses

import pytest

from mtj_hil.sim.lab import SMU_DIALECTS, START_STATES, VirtualClock, make_virtual_smu
from mtj_hil.sim.lab.smu.dialects import starts_of

R_LOAD = 4.3e3  # ohm


def resistor(volts: float) -> float:
    return volts / R_LOAD


def smu(dialect: str, start: str = "power-on", **kw):
    return make_virtual_smu(dialect, resistor, start=start, **kw)


def ask(inst, line: str) -> str:
    reply = inst.handle(line)
    assert reply is not None, f"no reply to {line!r}; errors {inst.errors()}"
    return reply


def codes(inst) -> list[int]:
    return [code for code, _ in inst.errors()]


#: Per dialect: lines to run, and query -> power-on reply.
DEFAULTS = {
    "keithley2400": {
        ":SOUR:FUNC?": "VOLT",
        ":SOUR:VOLT?": "+0.000000E+00",
        ":SENS:CURR:PROT?": "+1.050000E-04",
        ":SENS:CURR:RANG:AUTO?": "1",
        ":SOUR:VOLT:RANG:AUTO?": "1",
        ":SENS:CURR:NPLC?": "+1.000000E+00",
        ":FORM:ELEM?": "VOLT,CURR,RES,TIME,STAT",
        ":FORM?": "ASC",
        ":OUTP?": "0",
    },
    "keithley2450": {
        ":SOUR:FUNC?": "VOLT",
        ":SOUR:VOLT?": "+0.000000E+00",
        ":SOUR:VOLT:ILIM?": "+1.050000E-04",
        ":SENS:FUNC?": '"CURR:DC"',
        ":SENS:CURR:RANG:AUTO?": "1",
        ":SOUR:VOLT:RANG:AUTO?": "1",
        ":SENS:CURR:NPLC?": "+1.000000E+00",
        ":FORM?": "ASC",
        ":OUTP?": "0",
        "*LANG?": "SCPI",
    },
    "keithley2600": {
        "print(smua.source.func)": "1.00000e+00",
        "print(smua.source.levelv)": "0.00000e+00",
        "print(smua.source.limiti)": "1.00000e+00",  # 2602B: 1 A (2600B manual, limitY)
        "print(smua.source.limitv)": "4.00000e+01",  # 2602B: 40 V
        "print(smua.measure.autorangei)": "1.00000e+00",
        "print(smua.source.autorangev)": "1.00000e+00",
        "print(smua.measure.nplc)": "1.00000e+00",
        "print(format.data)": "1.00000e+00",
        "print(smua.source.output, smub.source.output)": "0.00000e+00\t0.00000e+00",
    },
    "keysight_b2900": {
        ":SOUR1:FUNC:MODE?": "VOLT",
        ":SOUR1:VOLT?": "+0.000000E+00",
        ":SENS1:CURR:PROT?": "+1.000000E-04",
        ":SENS1:CURR:RANG:AUTO?": "1",
        ":SOUR1:VOLT:RANG:AUTO?": "1",
        ":SENS1:VOLT:PROT?": "+2.000000E+00",
        ":SENS:CURR:NPLC?": "+1.000000E-01",  # B2900 reference: "default is 0.1 PLC"
        ":FORM:ELEM:SENS?": "VOLT,CURR,RES,TIME,STAT,SOUR",
        ":OUTP1?": "0",
        ":OUTP2?": "0",
    },
}
RESET = {
    "keithley2400": "*RST",
    "keithley2450": "*RST",
    "keithley2600": "reset()",
    "keysight_b2900": "*RST",
}
ERROR_QUERY = {
    "keithley2400": ":SYST:ERR?",
    "keithley2450": ":SYST:ERR?",
    "keithley2600": "print(errorqueue.next())",
    "keysight_b2900": ":SYST:ERR?",
}
ALL_STARTS = [
    "current-source",
    "fixed-low-range",
    "output-on",
    "stale-errors",
    "odd-format",
    "last-user",
]
#: start states added for the settings that change what a channel measures
SETTING_STARTS = [
    (d, s)
    for d in SMU_DIALECTS
    for s in starts_of(d)
    if s not in ALL_STARTS + ["power-on", "tsp-language"]
]


def snapshot(inst) -> object:
    """Every channel's state plus the instrument-wide format settings."""
    chans = {n: dataclasses.asdict(ch.state) for n, ch in inst.channels.items()}
    fmt = getattr(inst, "format", None)
    extra = (fmt.data, fmt.precision) if fmt is not None else getattr(inst, "precision", None)
    return chans, extra, inst.line_frequency


def answers(inst, dialect: str) -> dict[str, str]:
    return {q: ask(inst, q) for q in DEFAULTS[dialect]}


# ------------------------------------------------------------------------------ factory


def test_dialect_names_match_the_station_drivers():
    from mtj_hil.station.config import SMU_DRIVERS

    assert SMU_DIALECTS == SMU_DRIVERS
    assert {"power-on", "current-source", "fixed-low-range", "output-on", "stale-errors",
            "odd-format", "last-user", "tsp-language"} <= set(START_STATES)  # fmt: skip


def test_unknown_names_are_refused_with_the_valid_ones():
    with pytest.raises(ValueError, match="keithley2450"):
        make_virtual_smu("keithley2401", resistor)
    with pytest.raises(ValueError, match="last-user"):
        make_virtual_smu("keithley2450", resistor, start="as-left")
    with pytest.raises(ValueError, match="tsp-language"):
        make_virtual_smu("keithley2400", resistor, start="tsp-language")


# ------------------------------------------------------------------------------ defaults, *RST


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_power_on_defaults(dialect):
    inst = smu(dialect)
    assert answers(inst, dialect) == DEFAULTS[dialect]
    assert inst.errors() == [] and not inst.output and inst.terminal_voltage == 0.0


@pytest.mark.parametrize(("dialect", "start"), SETTING_STARTS)
def test_every_setting_start_differs_and_the_reset_restores_it(dialect, start):
    fresh = snapshot(smu(dialect))
    inst = smu(dialect, start)
    assert snapshot(inst) != fresh
    inst.handle(RESET[dialect])
    if start != "line-frequency":  # a reset keeps the mains frequency setting
        assert snapshot(inst) == fresh


@pytest.mark.parametrize("start", ALL_STARTS)
@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_every_start_state_differs_and_reset_restores_the_defaults(dialect, start):
    inst = smu(dialect, start)
    if start == "stale-errors":
        assert len(inst.errors()) >= 3
    else:
        assert answers(inst, dialect) != DEFAULTS[dialect]
    inst.handle(RESET[dialect])
    assert answers(inst, dialect) == DEFAULTS[dialect]
    assert not inst.output


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_last_user_is_every_start_state_at_once(dialect):
    inst = smu(dialect, "last-user")
    assert inst.output and inst.source_function == "CURR"
    assert inst.terminal_voltage == pytest.approx(1e-3 * R_LOAD, rel=1e-6)
    assert len(inst.errors()) >= 3
    first = [a for a in inst.history if a.channel == inst.main.name]
    assert len(first) == 1 and first[0].function == "CURR" and first[0].output  # starts there
    assert not inst.main.state.i_range_auto


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_power_cycle_restores_power_on_and_empties_the_queue(dialect):
    inst = smu(dialect, "last-user")
    inst.power_cycle()
    assert answers(inst, dialect) == DEFAULTS[dialect]
    assert inst.errors() == []
    assert not any(a.output for a in inst.history[-len(inst.channels) :])


def test_odd_formats_are_binary_or_reduced():
    k2600 = smu("keithley2600", "odd-format")
    k2600.handle("smua.source.output = 1")
    assert ask(k2600, "print(smua.measure.i())").startswith("#0")
    k2450 = smu("keithley2450", "odd-format")
    assert ask(k2450, ":READ?").startswith("#18")  # IEEE 488.2 block: 8 bytes of REAL
    k2400 = smu("keithley2400", "odd-format")
    k2400.handle(":OUTP ON")
    assert ask(k2400, ":READ?").startswith("#0")
    b2900 = smu("keysight_b2900", "odd-format")
    assert len(ask(b2900, ":MEAS? (@1)").split(",")) == 2  # TIME, VOLT only


def test_2450_booted_in_tsp_refuses_scpi_until_lang_and_power_cycle():
    inst = smu("keithley2450", "tsp-language")
    assert ask(inst, "*LANG?") == "TSP"
    assert inst.handle(":SOUR:VOLT 0.1") is None
    assert inst.handle(":SOUR:VOLT?") is None
    assert codes(inst) == [-285, -285]
    inst.handle("*LANG SCPI")
    assert ask(inst, "*LANG?") == "TSP"  # takes effect only at the next power-up
    assert inst.handle(":SOUR:VOLT?") is None
    inst.power_cycle()
    assert ask(inst, "*LANG?") == "SCPI"
    assert ask(inst, ":SOUR:VOLT?") == "+0.000000E+00"


# ------------------------------------------------------------------------------ bad commands


@pytest.mark.parametrize(
    ("dialect", "line", "code"),
    [
        ("keithley2400", ":FOO:BAR?", -113),
        ("keithley2400", ":SOUR2:VOLT 0.1", -113),  # SOURce2 is the digital output
        ("keithley2400", ":MEAS? (@1)", -108),  # no channel lists on a 2400
        ("keithley2450", ":FOO:BAR?", -113),
        ("keithley2450", ":SENS:CURR:PROT 1e-3", -113),  # 2400 compliance header
        ("keithley2450", ":FORM:ELEM VOLT,CURR", -113),
        ("keithley2450", ":SOUR:VOLT:MODE LIST", -113),
        ("keithley2600", "smua.source.voltage = 1", -286),
        ("keithley2600", "print(smua.sauce.levelv)", -286),
        ("keithley2600", ":SOUR:VOLT 1", -285),
        ("keithley2600", "*FOO?", -285),
        ("keithley2600", "smua.source.compliance = true", -286),  # read-only
        ("keysight_b2900", ":FOO:BAR?", -113),
        ("keysight_b2900", ":SOUR3:VOLT 0.1", -113),
        ("keysight_b2900", ":MEAS? (@3)", -224),
        ("keysight_b2900", ":FORM:ELEM VOLT", -113),
    ],
)
def test_unknown_or_foreign_commands_queue_an_error_and_get_no_reply(dialect, line, code):
    inst = smu(dialect)
    before = answers(inst, dialect)
    assert inst.handle(line) is None
    assert codes(inst)[-1] == code
    assert answers(inst, dialect) == before


def test_2400_accepts_the_manuals_numeric_suffix_one():
    inst = smu("keithley2400")
    inst.handle(":SOUR1:VOLT 0.1;:OUTP1 ON")
    assert inst.errors() == [] and inst.terminal_voltage == pytest.approx(0.1)


def test_tsp_syntax_error_executes_nothing_of_the_line():
    inst = smu("keithley2600")
    assert inst.handle("smua.source.levelv = 0.2 smua.source.output = = 1") is None
    assert inst.level == 0.0 and codes(inst) == [-285]


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_error_queue_overflow_and_empty_reply(dialect):
    inst = smu(dialect)
    for _ in range(15):
        inst.handle("*BOGUS")
    assert len(inst.errors()) == inst.ERROR_QUEUE_SIZE and codes(inst)[-1] == -350
    for _ in range(inst.ERROR_QUEUE_SIZE):
        inst.handle(ERROR_QUERY[dialect])
    empty = ask(inst, ERROR_QUERY[dialect])
    assert empty.split(",")[0].split("\t")[0] in ("0", "+0", "0.00000e+00")


# ------------------------------------------------------------------------------ physics

#: Per dialect: set level V with compliance A, output on; one spot measurement's current.
SCRIPTS = {
    "keithley2400": (
        ":SOUR:VOLT {v};:SENS:CURR:PROT {c};:FORM:ELEM CURR;:OUTP ON",
        ":READ?",
        ":SENS:CURR:RANG 1e-6",
        ":SENS:CURR:NPLC {n}",
        ":SOUR:VOLT:MODE LIST;:SOUR:LIST:VOLT {lst};:TRIG:COUN {k};:INIT",
    ),
    "keithley2450": (
        ":SOUR:VOLT {v};:SOUR:VOLT:ILIM {c};:OUTP ON",
        ":READ?",
        ":SENS:CURR:RANG 1e-6",
        ":SENS:CURR:NPLC {n}",
        ":SOUR:LIST:VOLT {lst};:SOUR:SWE:VOLT:LIST 1, 0;:INIT",
    ),
    "keithley2600": (
        "smua.source.levelv = {v} smua.source.limiti = {c} smua.source.output = 1",
        "print(smua.measure.i())",
        "smua.measure.rangei = 1e-6",
        "smua.measure.nplc = {n}",
        "smua.trigger.source.listv({{{lst}}}) smua.trigger.source.action = 1 "
        "smua.trigger.measure.i(smua.nvbuffer1) smua.trigger.measure.action = 1 "
        "smua.trigger.count = {k} smua.trigger.initiate()",
    ),
    "keysight_b2900": (
        ":SOUR1:VOLT {v};:SENS1:CURR:PROT {c};:FORM:ELEM:SENS CURR;:OUTP1 ON",
        ":MEAS? (@1)",
        ":SENS1:CURR:RANG 1e-6",
        ":SENS1:CURR:NPLC {n}",
        ":SOUR1:VOLT:MODE LIST;:SOUR1:LIST:VOLT {lst};:TRIG1:COUN {k};:INIT (@1)",
    ),
}


def measured(inst, dialect: str) -> float:
    return float(ask(inst, SCRIPTS[dialect][1]).split(",")[0])


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_every_dialect_measures_the_same_load(dialect):
    inst = smu(dialect)
    inst.handle(SCRIPTS[dialect][0].format(v=0.2, c=1e-3))
    assert measured(inst, dialect) == pytest.approx(0.2 / R_LOAD, rel=1e-5)
    assert inst.errors() == []


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_compliance_clamps_the_current(dialect):
    inst = smu(dialect)
    inst.handle(SCRIPTS[dialect][0].format(v=0.2, c=1e-5))
    assert measured(inst, dialect) == pytest.approx(1e-5)


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_in_compliance_the_load_sets_the_voltage(dialect):
    """A voltage source at its current limit is a current source: 0.2 V set on 4.3 kohm
    with a 10 uA limit puts 43 mV on the load, not 0.2 V (the reading said 0.2 V, so
    V / I gave 20 kohm for a 4.3 kohm load)."""
    inst = smu(dialect)
    inst.handle(SCRIPTS[dialect][0].format(v=0.2, c=1e-5))
    measured(inst, dialect)
    point = inst.measured[-1][1]
    assert point.compliance and point.current == pytest.approx(1e-5)
    assert point.voltage == pytest.approx(1e-5 * R_LOAD, rel=1e-9)
    inst.handle(SCRIPTS[dialect][0].format(v=-0.2, c=1e-5))
    measured(inst, dialect)
    assert inst.measured[-1][1].voltage == pytest.approx(-1e-5 * R_LOAD, rel=1e-9)


def test_the_2400_reports_the_voltage_compliance_leaves():
    """The wire reply of :READ? with VOLT among the elements, a 1 kohm load at 1 V, 100 uA."""
    inst = make_virtual_smu("keithley2400", lambda volts: volts / 1e3)
    inst.handle(":SOUR:VOLT 1;:SENS:CURR:PROT 1e-4;:FORM:ELEM VOLT,CURR;:OUTP ON")
    volts, amps = (float(x) for x in ask(inst, ":READ?").split(","))
    assert (volts, amps) == (pytest.approx(0.1), pytest.approx(1e-4))


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_fixed_low_range_gives_range_compliance(dialect):
    inst = smu(dialect)
    inst.handle(SCRIPTS[dialect][0].format(v=0.2, c=1e-3))
    inst.handle(SCRIPTS[dialect][2])
    value = measured(inst, dialect)  # 0.2 V / 4.3 kohm = 46 uA on a 1 uA range
    if dialect == "keithley2400":  # clamped at 105 % of the range, status bit 16 set
        assert value == pytest.approx(1.05e-6)
    else:  # 2450 9.9e37, 2600 9.91e37, B2900 9.9e37: the overflow number, no current
        assert value >= 9.9e37


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_integration_time_is_booked_on_the_virtual_clock(dialect):
    clock = VirtualClock()
    inst = smu(dialect, clock=clock, line_frequency=50.0, latency=0.0)
    inst.handle(SCRIPTS[dialect][0].format(v=0.1, c=1e-3))
    spent = []
    for nplc in (1, 10):
        inst.handle(SCRIPTS[dialect][3].format(n=nplc))
        t0 = clock.now
        measured(inst, dialect)
        spent.append(clock.now - t0)
    assert spent[0] == pytest.approx(1 / 50) and spent[1] == pytest.approx(10 / 50)


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_a_list_sweep_takes_its_real_duration(dialect):
    clock = VirtualClock()
    inst = smu(dialect, clock=clock, line_frequency=60.0, latency=0.0)
    inst.handle(SCRIPTS[dialect][0].format(v=0.1, c=1e-3))
    inst.handle(SCRIPTS[dialect][3].format(n=5))
    levels = [0.01 * k for k in range(1, 41)]
    t0 = clock.now
    inst.handle(SCRIPTS[dialect][4].format(lst=", ".join(f"{v:g}" for v in levels), k=40))
    assert inst.errors() == []
    assert clock.now - t0 == pytest.approx(40 * 5 / 60)
    swept = [a.voltage for a in inst.history if a.output][-41:-1]
    assert swept == pytest.approx(levels)


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_max_voltage_refuses_and_never_applies(dialect):
    inst = smu(dialect, max_voltage=0.25)
    inst.handle(SCRIPTS[dialect][0].format(v=0.3, c=1e-3))
    assert inst.errors() != []
    assert all(abs(a.voltage) <= 0.25 and abs(a.terminal) <= 0.25 for a in inst.history)


@pytest.mark.parametrize(
    ("dialect", "lines", "limit"),
    [
        ("keithley2400", [":SOUR:VOLT:PROT 20", ":SOUR:VOLT 30", ":SENS:CURR:PROT 1", ":OUTP ON"], 20.0),
        ("keithley2450", [":SOUR:VOLT:PROT PROT5", ":SOUR:VOLT 30", ":SOUR:VOLT:ILIM 1", ":OUTP ON"], 5.0),
        ("keithley2600", ["smua.source.protectv = 6", "smua.source.levelv = 30", "smua.source.limiti = 1",
                          "smua.source.output = 1"], 6.0),
    ],
)  # fmt: skip
def test_over_voltage_protection_limits_the_terminals(dialect, lines, limit):
    inst = smu(dialect)
    for line in lines:
        inst.handle(line)
    assert inst.errors() == []
    assert inst.terminal_voltage == pytest.approx(limit)
    assert max(abs(a.terminal) for a in inst.history) == pytest.approx(limit)


@pytest.mark.parametrize(
    ("dialect", "lines"),
    [
        ("keithley2400", [":SOUR:FUNC CURR", ":SOUR:CURR 1e-3", ":SENS:VOLT:PROT 2", ":OUTP ON"]),
        ("keithley2450", [":SOUR:FUNC CURR", ":SOUR:CURR 1e-3", ":SOUR:CURR:VLIM 2", ":OUTP ON"]),
        ("keithley2600", ["smua.source.func = 0", "smua.source.leveli = 1e-3", "smua.source.limitv = 2",
                          "smua.source.output = 1"]),
        ("keysight_b2900", [":SOUR1:FUNC:MODE CURR", ":SOUR1:CURR 1e-3", ":SENS1:VOLT:PROT 2", ":OUTP1 ON"]),
    ],
)  # fmt: skip
def test_current_source_stops_at_its_voltage_limit(dialect, lines):
    inst = smu(dialect)
    for line in lines:
        inst.handle(line)
    assert inst.errors() == []
    assert inst.source_function == "CURR" and inst.terminal_voltage == pytest.approx(2.0)
    assert inst.history[-1].function == "CURR" and inst.history[-1].terminal == pytest.approx(2.0)


def test_b2900_output_protection_and_auto_output_on():
    inst = smu("keysight_b2900")
    inst.handle(":SOUR1:VOLT 0.2;:SENS1:CURR:PROT 1e-5;:OUTP1:PROT ON")
    assert not inst.output
    ask(inst, ":MEAS? (@1)")  # auto output-on, then compliance turns it off again
    assert [a.output for a in inst.history[-2:]] == [True, False]
    assert ask(inst, ":SENS1:CURR:PROT:TRIP?") == "1"


def test_2600_two_channels_share_the_error_queue_and_only_a_is_wired():
    inst = smu("keithley2600")
    inst.handle("smub.source.levelv = 0.2 smub.source.output = 1 smua.source.levelv = 0.2")
    inst.handle("smua.source.output = 1")
    assert ask(inst, "print(smub.measure.i())") == "0.00000e+00"  # open terminals
    assert float(ask(inst, "print(smua.measure.i())")) == pytest.approx(0.2 / R_LOAD, rel=1e-5)
    inst.handle("smub.foo = 1")
    assert codes(inst) == [-286]
    assert {a.channel for a in inst.history} == {"a", "b"}


def test_the_2400_measure_query_is_one_shot_whatever_the_last_user_left():
    """2400 User's Manual section 17, :CONFigure / :MEASure?: the function's controls back
    to their *RST values, arm and trigger counts one; one point comes back, not five."""
    inst = make_virtual_smu("keithley2400", resistor)
    inst.handle(":TRIG:COUN 5;:ARM:COUN 2;:SENS:AVER ON;:SENS:CURR:NPLC 0.1;:SOUR:VOLT 0.1")
    inst.handle(":FORM:ELEM CURR")
    assert float(ask(inst, ":MEAS:CURR?")) == pytest.approx(0.1 / R_LOAD)
    assert [ask(inst, q) for q in (":TRIG:COUN?", ":ARM:COUN?", ":SENS:AVER?")] == ["1", "1", "0"]
    assert float(ask(inst, ":SENS:CURR:NPLC?")) == 1.0
    assert inst.errors() == []


def test_the_b2900_measures_resistance_and_the_2400_beeps():
    """Commands unmodified drivers send: QCoDeS KeysightB2962A ``resistance()`` asks
    ``:MEAS:RES? (@1)``, pymeasure Keithley2400 ``beep()`` sends ``:SYST:BEEP f, t``; both
    queued -113 (and the resistance query then timed out)."""
    b2900 = make_virtual_smu("keysight_b2900", resistor)
    b2900.handle(":SOUR1:VOLT 0.2;:OUTP1 ON")
    assert float(ask(b2900, ":MEAS:RES? (@1)")) == pytest.approx(R_LOAD, rel=1e-6)
    k2400 = make_virtual_smu("keithley2400", resistor)
    start = k2400.clock.now
    k2400.handle(":SYST:BEEP 2000, 0.25")
    assert 0.25 <= k2400.clock.now - start < 0.26  # (plus the transaction's own time)
    k2400.handle(":SYST:BEEP 20, 0.25")  # below 65 Hz
    assert b2900.errors() == [] and codes(k2400) == [-222]


def test_longer_integration_averages_the_noise_down():
    """Ten times the integration time buys sqrt(10) less white noise, a tenth sqrt(10) more
    (it bought nothing above 1 NPLC: a test that longer integration cuts noise could not
    fail against the lab)."""
    import statistics

    inst = make_virtual_smu("keithley2400", resistor, noise_abs=1e-9, seed=3)
    inst.handle(":SOUR:VOLT 0.1;:SENS:CURR:PROT 1e-3;:FORM:ELEM CURR;:OUTP ON")
    spread = {}
    for nplc in (0.1, 1, 10):
        inst.handle(f":SENS:CURR:NPLC {nplc}")
        spread[nplc] = statistics.stdev(float(ask(inst, ":READ?")) for _ in range(600))
    assert spread[1] == pytest.approx(1e-9, rel=0.15)
    assert spread[0.1] / spread[1] == pytest.approx(10**0.5, rel=0.15)
    assert spread[1] / spread[10] == pytest.approx(10**0.5, rel=0.15)
