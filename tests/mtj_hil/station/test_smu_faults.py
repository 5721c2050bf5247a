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


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
@pytest.mark.usefixtures("python_sigint")
def test_ctrl_c_mid_sweep_finishes_the_transaction_then_turns_the_output_off(dialect):
    smu, server = serve(dialect)
    real = smu.handle
    fired = []

    def handle(line):
        reply = real(line)
        if (
            reply is not None
            and line.strip()
            .upper()
            .startswith((":READ?", ":TRAC:DATA?", "PRINTBUFFER", ":FETC:ARR?"))
            and not fired
        ):
            fired.append(line)
            os.kill(os.getpid(), signal.SIGINT)  # the operator presses Ctrl-C now
        return reply

    smu.handle = handle
    server = LineServer(handle, name=f"v-{dialect}-int", max_line=1 << 16)
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
