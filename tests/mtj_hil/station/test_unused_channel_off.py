"""A two-channel SMU whose unused channel stays on at shutdown: not confirmed off."""

from __future__ import annotations

import pytest

from mtj_hil.instruments.smu.known_state import SmuSettings
from mtj_hil.sim.lab import LineServer, make_virtual_smu
from mtj_hil.station.config import SmuConfig
from mtj_hil.station.smu import make_smu

SETTINGS = SmuSettings(max_voltage=0.3, compliance=1e-3, nplc=1.0, line_frequency=60.0,
                       ramp_rate=50.0)  # fmt: skip


def serve(dialect: str):
    return make_virtual_smu(dialect, lambda v: v / 20e3), None


def test_an_unused_channel_that_stays_on_at_shutdown_makes_the_shutdown_unconfirmed():
    """2602B: the channel the station does not use is switched on behind the driver's back
    and ignores the off command (and the reset tried next); the used channel goes off, yet the shutdown says not
    confirmed (one channel left live is not a safe bench)."""
    smu, _ = serve("keithley2600")
    real = smu.handle
    stuck = []

    def handle(line):
        text = line.strip().lower().replace(" ", "")
        if stuck and text in ("smub.source.output=smub.output_off", "smub.reset()"):
            return None  # the unused channel ignores its off command and its reset
        return real(line)

    server = LineServer(handle, name="v-2600-stuck", max_line=1 << 16)
    with server:
        driver = make_smu(
            SmuConfig(name="sense", driver="keithley2600", resource=server.resource, timeout=1.0),
            server.resource,
            sleep=lambda s: None,
        )
        assert driver.configure(SETTINGS).ok
        real("smub.source.output = smub.OUTPUT_ON")
        stuck.append(True)
        assert driver.shutdown() is False
        assert driver.off_confirmed is False
    assert smu.main.state.output is False  # the used channel itself went off


#: each two-channel dialect's unused channel switched on, and its identity query
OTHER_ON = {
    "keithley2600": "smub.source.output = smub.OUTPUT_ON",
    "keysight_b2900": ":OUTP2 ON",
}


@pytest.mark.parametrize("dialect", sorted(OTHER_ON))
def test_an_identity_query_lost_at_shutdown_still_switches_the_unused_channel_off(dialect):
    """The unused channel switched on mid-run (front panel, another client). At shutdown the
    driver asked ``*IDN?`` again to learn which channels the unit has; that one reply lost
    (a timeout) and no unused channel was even sent its off: the channel stayed live.
    The channels are now the ones the unit was found with on open."""
    smu, _, _ = _shut_down_losing_a_reply(dialect, "*IDN?")  # (not asked again, now)
    assert [ch.state.output for ch in smu.channels.values()] == [False, False]


def _shut_down_losing_a_reply(dialect: str, query: str):
    """Configure a ``dialect`` SMU, switch its unused channel on (as mid-run), then shut
    the driver down with the first reply to ``query`` lost on the way back; the served SMU,
    the queries lost and what the shutdown confirmed."""
    smu, _ = serve(dialect)
    real = smu.handle
    armed, lost = [False], []

    def handle(line):
        if armed[0] and line.strip() == query and not lost:
            lost.append(line)
            smu.mute_queries(1)  # executed, its reply lost on the way back
        return real(line)

    server = LineServer(handle, name=f"v-{dialect}-reply-lost", max_line=1 << 16)
    with server:
        driver = make_smu(
            SmuConfig(name="sense", driver=dialect, resource=server.resource, timeout=0.5),
            server.resource,
            sleep=lambda s: None,
        )
        assert driver.configure(SETTINGS).ok
        real(OTHER_ON[dialect])
        armed[0] = True
        confirmed = driver.shutdown()
    return smu, lost, confirmed


#: each two-channel dialect's output query of its unused channel
OTHER_OUTPUT_QUERY = {
    "keithley2600": "print(smub.source.output)",
    "keysight_b2900": ":OUTP2?",
}


@pytest.mark.parametrize("dialect", sorted(OTHER_ON))
def test_a_reply_lost_while_surveying_the_unused_channel_still_switches_it_off(dialect):
    """The unused channel switched on mid-run. At shutdown its survey's first query (the
    output state) got no reply: the survey raised before anything was sent to the channel,
    which stayed live. Its off is now sent and read back once more when securing it fails."""
    smu, lost, confirmed = _shut_down_losing_a_reply(dialect, OTHER_OUTPUT_QUERY[dialect])
    assert lost
    assert [ch.state.output for ch in smu.channels.values()] == [False, False]
    assert confirmed is True


def _open_losing_identity_replies(dialect: str, lost: int):
    """A ``dialect`` SMU found with its unused channel on, opened by the station with the
    first ``lost`` replies to ``*IDN?`` lost on the way back: the served SMU, and the
    driver (or the error opening it raised)."""
    from mtj_hil.instruments.errors import InstrumentTimeout

    smu, _ = serve(dialect)
    real = smu.handle
    real(OTHER_ON[dialect])  # left on before the run, by hand or by another program
    muted = []

    def handle(line):
        if line.strip() == "*IDN?" and len(muted) < lost:
            muted.append(line)
            smu.mute_queries(1)
        return real(line)

    server = LineServer(handle, name=f"v-{dialect}-idn-at-open", max_line=1 << 16)
    with server:
        try:
            driver = make_smu(
                SmuConfig(name="sense", driver=dialect, resource=server.resource, timeout=0.5),
                server.resource,
                sleep=lambda s: None,
            )
        except InstrumentTimeout as exc:
            return smu, exc
        assert driver.configure(SETTINGS).ok
        driver.shutdown()
    return smu, driver


@pytest.mark.parametrize("dialect", sorted(OTHER_ON))
def test_a_lost_identity_reply_at_open_is_asked_again_and_the_live_channel_goes_off(dialect):
    """The first ``*IDN?`` reply lost at open refused the SMU (exit 7), and its unused
    channel, found on, stayed on. ``*IDN?`` changes nothing, so it is asked once more."""
    smu, driver = _open_losing_identity_replies(dialect, lost=1)
    assert not isinstance(driver, Exception), driver
    assert [ch.state.output for ch in smu.channels.values()] == [False, False]


@pytest.mark.parametrize("dialect", sorted(OTHER_ON))
def test_an_smu_that_never_identifies_is_refused_saying_its_outputs_are_untouched(dialect):
    smu, error = _open_losing_identity_replies(dialect, lost=2)
    assert isinstance(error, Exception)
    assert "(asked twice); nothing else was sent to SMU sense" in str(error)
    assert "an output it had on is still on: check it at the instrument" in str(error)
    assert [ch.state.output for ch in smu.channels.values()] == [False, True]
