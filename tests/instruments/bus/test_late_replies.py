"""A reply that arrives after its query timed out is never read as the answer to a later
query. Every driver against its virtual instrument, which answers one measurement late: while
the recovery runs, or after the recovery has given up. Before, the late reply (and every one
after it) answered the query after its own: the next measurement returned the previous one's
values and ``*IDN?`` a measurement."""

from __future__ import annotations

import time

import pytest

from mtj_hil.instruments.bus import visa_session
from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout
from mtj_hil.instruments.smu.known_state import SmuSettings
from mtj_hil.sim.lab import SMU_DIALECTS, LineServer, make_virtual_smu
from mtj_hil.station.config import SmuConfig
from mtj_hil.station.smu import make_smu

R_LOAD = 20e3  # ohm
SETTINGS = SmuSettings(max_voltage=0.3, compliance=1e-3, nplc=1.0, line_frequency=60.0,
                       ramp_rate=50.0)  # fmt: skip
TIMEOUT = 0.2  # s, the driver's base I/O timeout
#: how late the reply comes, s: while the recovery resynchronises (it waits 1 s for the
#: answer), or after it gave up (the next query resynchronises first)
DURING_RECOVERY, AFTER_RECOVERY = 0.6, 1.7


def _served(dialect: str):
    smu = make_virtual_smu(dialect, lambda volts: volts / R_LOAD)
    return smu, LineServer(smu.handle, name=f"v-{dialect}", max_line=1 << 16)


def _driver(dialect: str, resource: str, timeout: float = TIMEOUT):
    driver = make_smu(
        SmuConfig(name="sense", driver=dialect, resource=resource, timeout=timeout),
        resource,
        sleep=lambda s: None,
    )
    session = driver if hasattr(driver, "io_timeout") else driver.parent  # a channel's
    with session.io_timeout(2.0):  # set-up room on a loaded machine; the faults keep TIMEOUT
        assert driver.configure(SETTINGS).ok
        driver.source_voltage = 0.1
        driver.enable_output()
    return driver


CASES = [(d, DURING_RECOVERY) for d in SMU_DIALECTS] + [("keithley2400", AFTER_RECOVERY)]


@pytest.mark.parametrize(("dialect", "late"), CASES)
def test_a_late_reply_is_never_the_answer_to_the_next_query(dialect, late):
    smu, server = _served(dialect)
    with server:
        driver = _driver(dialect, server.resource)
        assert driver.measure_current().voltage == pytest.approx(0.1)
        driver.source_voltage = 0.2
        smu.delay_next_reply(late)
        with pytest.raises(InstrumentTimeout, match="no reply in time"):
            driver.measure_current()  # its reply (0.2 V) comes after the timeout
        _answers_in_step(driver, smu, measurements=2)
    assert smu.output is False


def _answers_in_step(driver, smu, measurements: int) -> None:
    """After the fault: a write goes out whatever the replies do, then each query reads
    its own answer (measurements at the new level, the identity) and the shutdown is
    confirmed."""
    driver.source_voltage = 0.25
    for _ in range(measurements):
        reading = driver.measure_current()
        assert reading.voltage == pytest.approx(0.25)
        assert reading.current == pytest.approx(0.25 / R_LOAD, rel=1e-3)
    assert driver.idn == smu.idn
    assert driver.shutdown() is True


def test_out_of_step_with_a_silent_instrument_queries_are_refused_but_the_output_goes_off(
    monkeypatch,
):
    """The instrument executes everything but answers nothing more: no reply can be put in
    step, so each query is refused naming why (not read: it could be an older one), while the
    shutdown's writes still go out and switch the output off (not confirmed: no read-back)."""
    monkeypatch.setattr(visa_session, "RECOVERY_TIMEOUT_S", 0.2)  # each resync waits this
    smu, server = _served("keithley2400")
    with server:
        driver = _driver("keithley2400", server.resource)
        smu.mute_queries(10_000)
        with pytest.raises(InstrumentTimeout):
            driver.measure_current()
        with pytest.raises(InstrumentError, match=r"':OUTP\?' not sent: .* out of step since"):
            driver.output_enabled  # noqa: B018 - the query is the test
        assert driver.shutdown() is False
    assert smu.output is False


#: each dialect's output-off command and error-queue query, as its driver sends them
OFF_AND_ERROR_QUERY = {
    "keithley2400": (":OUTP OFF", ":SYST:ERR?"),
    "keithley2450": (":OUTP OFF", ":SYST:ERR?"),
    "keithley2600": ("smua.source.output = smua.OUTPUT_OFF", "print(errorqueue.next())"),
    "keysight_b2900": (":OUTP1 OFF", ":SYST:ERR?"),
}


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_a_late_reply_to_the_recoverys_own_query_is_not_read_as_the_output_state(
    dialect, monkeypatch
):
    """The shutdown's recovery drains the error queue; that query timing out (its reply
    late) did not mark the replies out of step, so every later query of the shutdown read
    the one before's answer. At 0 V the output read-back got the level's ``0`` and took it
    for "off": the off command, refused by the instrument, was never sent again and a
    2600's output was left on. Now the next query resynchronises first."""
    monkeypatch.setattr(visa_session, "RECOVERY_TIMEOUT_S", 0.3)
    off, error_query = OFF_AND_ERROR_QUERY[dialect]
    smu, server = _served(dialect)
    real, armed, done = smu.handle, [False], set()

    def handle(line: str):
        if armed[0] and line.strip() == error_query and "late" not in done:
            done.add("late")
            smu.delay_next_reply(0.8)  # after the recovery's 0.3 s, within the next 2 s
        elif armed[0] and line.strip() == off and "off" not in done:
            done.add("off")
            smu.fail_next()  # the off command is refused once: the read-back must see it
        return real(line)

    server._handler = handle
    with server:
        driver = _driver(dialect, server.resource, timeout=2.0)
        driver.source_voltage = 0.0
        armed[0] = True
        confirmed = driver.shutdown()
    assert done == {"late", "off"}
    assert smu.output is False
    assert confirmed is True


def test_an_earlier_unanswered_resynchronisation_is_not_read_as_the_next_answer(monkeypatch):
    """A measurement's reply comes 0.8 s late, so the recovery's ``*IDN?`` (0.3 s allowed)
    goes unanswered; the next query's resynchronisation sends a second one. The instrument
    answers both, each 0.12 s after the last (slow, as a paced virtual lab is). The
    resynchronisation stopped at the first answer and its drain (50 ms) missed the second,
    which the measurement then read as its own: replies out of step while taken as in step.
    Now as many answers are read as queries were sent."""
    monkeypatch.setattr(visa_session, "RECOVERY_TIMEOUT_S", 0.3)
    smu, server = _served("keithley2400")
    real, slow = smu.handle, [False]

    def handle(line: str):
        if slow[0] and line.strip() == "*IDN?":
            time.sleep(0.12)
        return real(line)

    server._handler = handle
    with server:
        driver = _driver("keithley2400", server.resource, timeout=0.2)
        slow[0] = True
        smu.delay_next_reply(0.8)
        with pytest.raises(InstrumentTimeout, match="resynchronisation failed"):
            driver.measure_current()
        _answers_in_step(driver, smu, measurements=1)
    assert smu.output is False
