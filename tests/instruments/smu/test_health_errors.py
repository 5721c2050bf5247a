"""The mid-run check reads the error queue the known state left empty: an error queued since
(a refused command, ours or another client's, or the instrument's own) stops the run naming
it. Before, the check read the power-on bit, identity, output and settings, but not the
queue, and the run went on."""

from __future__ import annotations

import pytest

from mtj_hil.instruments.errors import InstrumentStateLost
from mtj_hil.instruments.smu.known_state import SmuSettings
from mtj_hil.sim.lab import SMU_DIALECTS, LineServer, make_virtual_smu
from mtj_hil.station.config import SmuConfig
from mtj_hil.station.smu import make_smu

SETTINGS = SmuSettings(max_voltage=0.3, compliance=1e-3, nplc=1.0, line_frequency=60.0,
                       ramp_rate=50.0)  # fmt: skip


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_an_error_queued_mid_run_is_named_by_the_check(dialect):
    smu = make_virtual_smu(dialect, lambda volts: volts / 20e3)
    with LineServer(smu.handle, name=f"v-{dialect}", max_line=1 << 16) as server:
        driver = make_smu(
            SmuConfig(
                name="sense", driver=dialect, resource=server.resource, timeout=10.0
            ),  # (a loaded CI machine)
            server.resource,
            sleep=lambda s: None,
        )
        try:
            assert driver.configure(SETTINGS).ok
            driver.source_voltage = 0.0
            driver.enable_output()
            driver.measure_current()
            driver.check_health()  # nothing queued: the check passes
            smu.push_error(-221, "Settings conflict")
            with pytest.raises(
                InstrumentStateLost, match=r"queued errors .*-221 Settings conflict"
            ):
                driver.check_health()
            driver.check_health()  # read once: the queue is empty again
        finally:
            assert driver.shutdown() is True
    assert smu.output is False
