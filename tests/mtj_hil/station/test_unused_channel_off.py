"""A two-channel SMU whose unused channel stays on at shutdown: not confirmed off."""

from __future__ import annotations

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
