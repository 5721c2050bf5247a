"""A shutdown whose instrument answers wrongly: every driver against its virtual instrument,
one wire fault injected per case (a lost command, a garbled or misplaced reply). The
shutdown may fail to confirm the output off; it must never confirm it falsely, nor drive the
output beyond the level the run allowed on its way to 0 V."""

from __future__ import annotations

import pytest

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.instruments.smu.base import output_state
from mtj_hil.instruments.smu.known_state import SmuSettings
from mtj_hil.instruments.smu.tsp_replies import tsp_output_state
from mtj_hil.sim.lab import SMU_DIALECTS, LineServer, make_virtual_smu
from mtj_hil.station.config import SmuConfig
from mtj_hil.station.smu import make_smu

BOUND = 0.3  # V, the known state's largest source level
SETTINGS = SmuSettings(max_voltage=BOUND, compliance=1e-3, nplc=1.0, line_frequency=60.0,
                       ramp_rate=50.0)  # fmt: skip

#: per dialect: the output-off command, the output read-back and the level query it sends
OUTPUT_OFF = {
    "keithley2400": ":OUTP OFF",
    "keithley2450": ":OUTP OFF",
    "keithley2600": "smua.source.output = smua.OUTPUT_OFF",
    "keysight_b2900": ":OUTP1 OFF",
}
OUTPUT_QUERY = {
    "keithley2400": ":OUTP?",
    "keithley2450": ":OUTP?",
    "keithley2600": "print(smua.source.output)",
    "keysight_b2900": ":OUTP1?",
}
LEVEL_QUERY = {
    "keithley2400": ":SOURCE:VOLTAGE?",
    "keithley2450": ":SOUR:VOLT?",
    "keithley2600": "print(smua.source.levelv)",
    "keysight_b2900": ":SOUR1:VOLT?",
}


def _live(dialect: str, rewrite, start: str = "power-on"):
    """A virtual SMU of ``dialect`` found in ``start`` whose lines pass through
    ``rewrite(line, reply, armed)`` (returns the reply sent, ``None`` for none, or ``...`` to
    drop the line unexecuted); returns ``(smu, server, armed)``: set ``armed[0]`` to start
    the fault."""
    smu = make_virtual_smu(dialect, lambda volts: volts / 20e3, start=start)
    real = smu.handle
    armed = [False]

    def handle(line: str):
        text = line.strip()
        if armed[0] and rewrite(text, None, armed) is ...:
            return None  # the command is lost on the way
        reply = real(line)
        return rewrite(text, reply, armed) if armed[0] else reply

    return smu, LineServer(handle, name=f"v-{dialect}", max_line=1 << 16), armed


def _open(dialect: str, resource: str):
    driver = make_smu(
        SmuConfig(name="sense", driver=dialect, resource=resource, timeout=1.0),
        resource,
        sleep=lambda s: None,
    )
    assert driver.configure(SETTINGS).ok
    driver.source_voltage = 0.1
    driver.enable_output()
    return driver


@pytest.mark.parametrize("bad", ["", "#?", "+1.000000E-01"], ids=["empty", "junk", "late-level"])
@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_a_garbled_output_read_back_never_confirms_an_output_left_on(dialect, bad):
    """The output-off command is lost and its read-back answered by something that is not
    an output state (an empty line, junk, another query's answer arriving late): the output
    is still on, so the shutdown must not say it is off (it did: anything but "1" read as
    off)."""

    def rewrite(text, reply, armed):
        if reply is None and text == OUTPUT_OFF[dialect]:
            return ...
        return bad if text == OUTPUT_QUERY[dialect] and reply is not None else reply

    smu, server, armed = _live(dialect, rewrite)
    with server:
        driver = _open(dialect, server.resource)
        armed[0] = True
        confirmed = driver.shutdown()
        assert smu.output is True  # the fault: the output really is still on
        assert confirmed is False
        assert driver.off_confirmed is False


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_a_wrong_level_read_back_at_shutdown_drives_nothing_beyond_the_bound(dialect):
    """The shutdown reads the level to ramp down from, and gets 20 V (a garbled reply, or
    another query's answer arriving late) while 0.1 V is on the terminals. Ramping down from
    20 V wrote every step from 19.95 V down: the instrument took those its 2 V range holds,
    raising a live output from 0.1 V to 2 V. Now nothing beyond the run's bound is written
    and the output still ends off and confirmed."""
    twenty = "2.00000000000e+01" if dialect == "keithley2600" else "+2.000000E+01"

    def rewrite(text, reply, armed):
        if text == LEVEL_QUERY[dialect] and reply is not None:
            armed[0] = False  # once
            return twenty
        return reply

    smu, server, armed = _live(dialect, rewrite)
    with server:
        driver = _open(dialect, server.resource)
        start = len(smu.history)
        armed[0] = True
        assert driver.shutdown() is True
    during = smu.history[start:]
    assert max(abs(a.terminal) for a in during) <= BOUND
    assert max(abs(a.voltage) for a in during) <= BOUND
    assert smu.output is False


@pytest.mark.parametrize(
    ("reply", "state"), [("1", True), ("ON", True), ("0\n", False), (" OFF", False)]
)
def test_output_state_reads_the_four_answers_of_the_manuals(reply, state):
    assert output_state(reply, "SMU :OUTP?") is state


@pytest.mark.parametrize("reply", ["", "2", "0,1", "+1.000000E-01", "\x00\xff1", "nan"])
def test_output_state_refuses_anything_else_naming_the_query(reply):
    with pytest.raises(InstrumentError, match=r"^SMU x at y :OUTP\?: output state reply"):
        output_state(reply, "SMU x at y :OUTP?")


@pytest.mark.parametrize(
    ("reply", "state"),
    [("0.00000000000e+00", False), ("1.00000000000e+00", True), ("0", False)],
)
def test_tsp_output_state_reads_zero_and_one(reply, state):
    assert tsp_output_state(reply, "smua") is state


@pytest.mark.parametrize("reply", ["", "2.00000e+00", "1.00000e-01", "nil", "true"])
def test_tsp_output_state_refuses_anything_else(reply):
    with pytest.raises(InstrumentError, match="output state reply"):
        tsp_output_state(reply, "smua")


def _first_level_reply(dialect: str, bad: str):
    """A rewrite that answers the next level query with ``bad`` (once)."""

    def rewrite(text, reply, armed):
        if text == LEVEL_QUERY[dialect] and reply is not None:
            armed[0] = False
            return bad
        return reply

    return rewrite


#: first replies to the level query of an SMU found sourcing 0.5 V: garbled into 20 V, a
#: stale answer of the output query before it ("1": 1 V), junk
FOUND_REPLIES = {"garbled-20V": "+2.000000E+01", "stale-output": "1", "junk": "#?"}


@pytest.mark.parametrize("bad", list(FOUND_REPLIES.values()), ids=list(FOUND_REPLIES))
@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_an_smu_found_sourcing_is_not_ramped_from_a_level_read_once(dialect, bad):
    """A previous user left the output on at 0.5 V; the open reads the level to ramp down
    from and its first reply is wrong. Trusted, 20 V (or the 1 V of a late ``:OUTP?``
    answer) was ramped down from, raising the live output first, and junk refused the open
    with the output still on. The level is now read twice; two replies that do not agree
    are not ramped from: 0 V is set at once, the output switched off and the open goes on."""
    smu, server, armed = _live(dialect, _first_level_reply(dialect, bad), start="output-on")
    with server:
        driver = make_smu(
            SmuConfig(name="sense", driver=dialect, resource=server.resource, timeout=1.0),
            server.resource,
            sleep=lambda s: None,
        )
        armed[0] = True
        state = driver.configure(SETTINGS)
        assert armed[0] is False  # the fault happened
        assert state.ok, state.problems()
        assert driver.found.output is True and driver.found.secured is True
        assert "a level not confirmed" in driver.found.describe()
        driver.shutdown()
    assert smu.history[0].output is True  # found sourcing
    assert max(abs(a.terminal) for a in smu.history) <= 0.5 + 1e-9
    assert max(abs(a.voltage) for a in smu.history) <= 0.5 + 1e-9
    assert smu.output is False


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_an_smu_found_sourcing_is_ramped_from_a_level_read_twice_alike(dialect):
    """Without a fault the found level is confirmed and ramped down from in steps."""
    smu, server, _ = _live(dialect, lambda text, reply, armed: reply, start="output-on")
    with server:
        driver = make_smu(
            SmuConfig(name="sense", driver=dialect, resource=server.resource, timeout=1.0),
            server.resource,
            sleep=lambda s: None,
        )
        assert driver.configure(SETTINGS).ok
        assert driver.found.level == pytest.approx(0.5)
        driver.shutdown()
    live = [a.voltage for a in smu.history if a.output]
    assert len({round(v, 6) for v in live}) >= 5  # stepped down, not dropped at once


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_a_stale_level_within_the_bound_at_shutdown_is_not_ramped_from(dialect):
    """0.1 V is on and the shutdown's first level reply is 0.25 V, within the run's 0.3 V
    bound (a late answer of an earlier query). Read once, the ramp started there and raised
    the live output to 0.25 V; read twice, the replies disagree and 0 V is set at once."""
    stale = "2.50000000000e-01" if dialect == "keithley2600" else "+2.500000E-01"
    smu, server, armed = _live(dialect, _first_level_reply(dialect, stale))
    with server:
        driver = _open(dialect, server.resource)
        start = len(smu.history)
        armed[0] = True
        assert driver.shutdown() is True
        assert armed[0] is False
    during = smu.history[start:]
    assert max(abs(a.terminal) for a in during) <= 0.1 + 1e-9
    assert smu.output is False


SET_LEVEL = {
    "keithley2400": ":SOUR:VOLT 0.5",
    "keithley2450": ":SOUR:VOLT 0.5",
    "keithley2600": "smua.source.levelv = 0.5",
    "keysight_b2900": ":SOUR1:VOLT 0.5",
}


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_a_level_another_client_set_beyond_the_bound_is_ramped_down_from(dialect, caplog):
    """Another client set 0.5 V, beyond the run's 0.3 V bound, on a live output. Both level
    reads agree, so the output is there: the shutdown dropped it to 0 V in one step
    (ignoring the ramp); it now ramps down from it and the log names the level."""
    smu, server, _ = _live(dialect, lambda text, reply, armed: reply)
    with server:
        driver = _open(dialect, server.resource)
        assert driver.output_enabled  # a query: the driver's writes have all been handled
        smu.handle(SET_LEVEL[dialect])
        start = len(smu.history)
        assert driver.shutdown() is True
    live = [a.voltage for a in smu.history[start:] if a.output]
    steps = [abs(b - a) for a, b in zip([0.5, *live], live, strict=False)]
    assert max(steps) <= SETTINGS.ramp_step + 1e-9, live
    assert smu.output is False
    assert "found at 0.5 V, beyond the +-0.3 V the run sets" in caplog.text
