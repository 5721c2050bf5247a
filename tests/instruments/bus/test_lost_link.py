"""An instrument that drops the connection mid-run (a LAN socket reset by a network glitch
or by the instrument's own LAN stack) while its output is on: the instrument is still
sourcing, so the session is reopened and the shutdown switches the output off and confirms
it. Before, nothing could reach the instrument any more: the output stayed on and the
shutdown said so."""

from __future__ import annotations

import pytest

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.instruments.smu.known_state import SmuSettings
from mtj_hil.sim.lab import SMU_DIALECTS, DropConnection, LineServer, make_virtual_smu
from mtj_hil.station.config import SmuConfig
from mtj_hil.station.smu import make_smu

R_LOAD = 20e3  # ohm
SETTINGS = SmuSettings(max_voltage=0.3, compliance=1e-3, nplc=1.0, line_frequency=60.0,
                       ramp_rate=50.0)  # fmt: skip


CASES = [(d, True) for d in SMU_DIALECTS] + [("keithley2400", False)]  # closed: slower


def _sourcing(dialect: str, server: LineServer):
    """Our ``dialect`` driver on ``server``, configured and sourcing 0.1 V, output on."""
    driver = make_smu(
        SmuConfig(name="sense", driver=dialect, resource=server.resource, timeout=0.3),
        server.resource,
        sleep=lambda s: None,
    )
    session = driver if hasattr(driver, "io_timeout") else driver.parent  # a channel's
    with session.io_timeout(2.0):  # set-up room on a loaded machine; the faults keep 0.3 s
        assert driver.configure(SETTINGS).ok
        driver.source_voltage = 0.1
        driver.enable_output()
    return driver


@pytest.mark.parametrize(("dialect", "reset"), CASES)
def test_a_dropped_connection_is_reopened_and_the_output_switched_off(dialect, reset):
    smu = make_virtual_smu(dialect, lambda volts: volts / R_LOAD)
    real = smu.handle
    armed = [False]

    def handle(line: str):
        if armed[0]:  # the measurement never arrives: the connection goes first
            armed[0] = False
            raise DropConnection("injected", reset=reset)
        return real(line)

    with LineServer(handle, name=f"v-{dialect}", max_line=1 << 16) as server:
        driver = _sourcing(dialect, server)
        assert driver.output_enabled  # the query waits for the writes before it
        armed[0] = True
        with pytest.raises(InstrumentError) as info:
            driver.measure_current()
        assert smu.output is True  # still sourcing: the link went, not the instrument
        assert driver.shutdown() is True
        assert server.connections_total == 2
    assert smu.output is False
    assert "reconnected" in str(info.value)


@pytest.mark.parametrize("dialect", ["keithley2600"])
def test_after_the_link_is_reopened_readings_are_the_instruments_again(dialect):
    smu = make_virtual_smu(dialect, lambda volts: volts / R_LOAD)
    with LineServer(smu.handle, name=f"v-{dialect}", max_line=1 << 16) as server:
        driver = _sourcing(dialect, server)
        assert driver.output_enabled  # the query waits for the writes before it
        smu.drop_after(0)  # the next line closes the connection, unexecuted
        with pytest.raises(InstrumentError, match="reconnected"):
            driver.measure_current()
        driver.source_voltage = 0.2
        reading = driver.measure_current()
        assert reading.voltage == pytest.approx(0.2)
        assert reading.current == pytest.approx(0.2 / R_LOAD, rel=1e-3)
        assert driver.shutdown() is True
    assert smu.output is False


OUTPUT_OFF = {
    "keithley2400": ":OUTP OFF",
    "keithley2450": ":OUTP OFF",
    "keithley2600": "smua.source.output = smua.OUTPUT_OFF",
    "keysight_b2900": ":OUTP1 OFF",
}


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_the_link_dropping_on_the_shutdowns_output_off_still_ends_off_and_confirmed(dialect):
    """The connection goes with the output-off command itself (unexecuted): the read-back
    finds the link lost, the recovery reopens it, and off is sent and read back again.
    Before, the shutdown ended there, the output on and not confirmed."""
    smu = make_virtual_smu(dialect, lambda volts: volts / R_LOAD)
    real = smu.handle
    dropped: list[str] = []

    def handle(line: str):
        if not dropped and line.strip() == OUTPUT_OFF[dialect]:
            dropped.append(line)
            raise DropConnection("injected")
        return real(line)

    with LineServer(handle, name=f"v-{dialect}", max_line=1 << 16) as server:
        driver = _sourcing(dialect, server)
        assert driver.shutdown() is True
        assert dropped
    assert smu.output is False
