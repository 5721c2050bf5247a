"""SMU drivers against their virtual instruments: refused settings, a hung instrument
mid-sweep, Ctrl-C mid-sweep. No mocks: faults are injected into the virtual instruments."""

from __future__ import annotations

import os
import signal

import pytest

from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout
from mtj_hil.instruments.smu.known_state import SmuSettings
from mtj_hil.sim.lab import SMU_DIALECTS, LineServer, make_virtual_smu
from mtj_hil.station.config import SmuConfig
from mtj_hil.station.smu import make_smu

pytestmark = pytest.mark.slow

R_LOAD = 20e3  # ohm
SETTINGS = SmuSettings(max_voltage=0.3, compliance=1e-3, nplc=1.0, line_frequency=60.0,
                       ramp_rate=50.0)  # fmt: skip


def serve(dialect: str, **kwargs):
    smu = make_virtual_smu(dialect, lambda v: v / R_LOAD, **kwargs)
    server = LineServer(smu.handle, name=f"v-{dialect}", max_line=1 << 16)
    return smu, server


def open_driver(dialect: str, resource: str, timeout: float = 2.0):
    return make_smu(
        SmuConfig(name="sense", driver=dialect, resource=resource, timeout=timeout),
        resource,
        sleep=lambda s: None,
    )


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_a_refused_setting_is_caught_and_output_on_is_refused_naming_it(dialect):
    smu, server = serve(dialect)
    with server:
        driver = open_driver(dialect, server.resource)
        try:
            state = driver.configure(SmuSettings(max_voltage=0.3, compliance=1e-3, nplc=500.0))
            assert not state.ok
            # refused with an error, or silently clamped: either way the read-back names it
            nplc = next(c for c in state.checks if c.name == "NPLC")
            assert not nplc.ok and nplc.asked == "500"
            with pytest.raises(InstrumentError, match=r"output-on refused: .*NPLC: asked 500"):
                driver.enable_output()
        finally:
            driver.shutdown()
    assert not any(a.output for a in smu.history)


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_a_hung_instrument_mid_sweep_ends_cleared_and_off(dialect):
    smu, server = serve(dialect)
    with server:
        driver = open_driver(
            dialect, server.resource, timeout=1.0
        )  # a loaded CI machine may take 0.3 s to answer
        assert driver.configure(SETTINGS).ok
        driver.source_voltage = 0.0
        driver.enable_output()
        smu.mute_queries(1)  # the sweep's read-back gets no reply
        with pytest.raises(InstrumentTimeout) as info:
            driver.sweep_voltages([0.1, 0.2, 0.1])
        message = str(info.value)
        assert server.resource.split("::", 1)[1] in message and "aborted" in message
        assert driver.shutdown() is True
    assert smu.output is False
    assert smu.history[-1].output is False


def _ctrl_c_server(dialect: str, when):
    """A virtual SMU whose server presses Ctrl-C once, right after answering the first
    command for which ``when(line, reply)`` is true. Returns ``(smu, server, fired)``."""
    smu, _ = serve(dialect)
    real = smu.handle
    fired: list[str] = []

    def handle(line):
        reply = real(line)
        if not fired and when(line, reply):
            fired.append(line)
            os.kill(os.getpid(), signal.SIGINT)  # the operator presses Ctrl-C now
        return reply

    smu.handle = handle
    return smu, LineServer(handle, name=f"v-{dialect}-int", max_line=1 << 16), fired


READS = (":READ?", ":TRAC:DATA?", "PRINTBUFFER", ":FETC:ARR?")


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_mid_sweep_finishes_the_transaction_then_turns_the_output_off(dialect):
    smu, server, fired = _ctrl_c_server(
        dialect, lambda line, reply: reply is not None and line.strip().upper().startswith(READS)
    )
    with server:
        driver = open_driver(dialect, server.resource)
        assert driver.configure(SETTINGS).ok
        driver.source_voltage = 0.1
        driver.enable_output()
        with pytest.raises(KeyboardInterrupt):
            driver.sweep_voltages([0.1, 0.2, 0.3])
        assert fired
        # the reply was read before the interrupt: the stream is in step
        assert driver.idn
        assert driver.shutdown() is True
    assert smu.output is False


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_during_the_shutdown_is_held_until_the_output_is_off(dialect):
    """Ctrl-C arriving while the shutdown's first transaction is on the wire (the operator
    presses it again, or a first time while an exit is slow) no longer skips the steps after
    it: the output is still ramped to 0 V, switched off and read back, then the interrupt
    goes on."""
    armed = [False]
    smu, server, fired = _ctrl_c_server(dialect, lambda line, reply: armed[0])
    with server:
        driver = open_driver(dialect, server.resource)
        assert driver.configure(SETTINGS).ok
        driver.source_voltage = 0.1
        driver.enable_output()
        assert driver.output_enabled and smu.output  # the query waits for the write
        armed[0] = True
        with pytest.raises(KeyboardInterrupt):
            driver.shutdown()
        assert fired
        assert driver.off_confirmed is True
    assert smu.output is False
    assert smu.history[-1].output is False


@pytest.mark.parametrize("dialect", ["keithley2600", "keysight_b2900"])
def test_a_shutdown_that_cannot_check_the_unused_channel_is_not_confirmed(dialect):
    """Two-channel units: after the used channel's output is read back off, the shutdown
    checks the channel the station does not use; when that check fails (the instrument stops
    answering), the shutdown is not confirmed, though the used channel alone was."""
    smu, server = serve(dialect, start="other-channel-live")
    real = smu.handle
    used = "smua" if dialect == "keithley2600" else ":OUTP1"
    seen_off = []

    def handle(line):
        text = line.strip().upper()
        reply = real(line)
        if text in (f"{used.upper()}.SOURCE.OUTPUT = {used.upper()}.OUTPUT_OFF", f"{used} OFF"):
            seen_off.append(line)
        elif seen_off and reply is not None:
            smu.drop_after(0)  # the read-back is answered, then the instrument is gone
        return reply

    smu.handle = handle
    server = LineServer(handle, name=f"v-{dialect}-drop", max_line=1 << 16)
    with server:
        driver = make_smu(
            SmuConfig(name="sense", driver=dialect, resource=server.resource, timeout=1.0),
            server.resource,
            sleep=lambda s: None,
        )
        assert driver.configure(SETTINGS).ok
        driver.source_voltage = 0.0
        driver.enable_output()
        assert driver.output_enabled
        assert driver.shutdown() is False
        assert driver.off_confirmed is False
    assert seen_off
    assert smu.main.state.output is False  # the used channel was confirmed off
