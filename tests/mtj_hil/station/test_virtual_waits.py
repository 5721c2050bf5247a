"""A virtual SMU's host-side waits (the dwell of a ramp down from a live output found at
connect) are booked on the virtual lab's clock, like every other modelled second, not slept
in wall time."""

from __future__ import annotations

import time
import tomllib

from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import STATION


def test_a_ramp_on_the_virtual_lab_is_modelled_time_not_wall_time():
    data = tomllib.loads(STATION.read_text())
    del data["calibration"]
    data["smu"]["sense"].update(driver="keithley2600", channel="a")
    data["virtual_lab"]["smu_start"] = "other-channel-live"  # channel b on at 5 V
    station = station_from_dict(data, STATION)
    t0 = time.perf_counter()
    with open_station(station, apply_calibration=False) as chip:
        modelled = chip.lab.clock.now
        assert not chip.lab.smu.channels["b"].state.output  # ramped down and off
    wall = time.perf_counter() - t0
    # 5 V ramped down at the drivers' safe rate takes seconds of modelled time ...
    assert modelled > 2.0, modelled
    # ... which the test does not wait for
    assert wall < modelled / 2, (wall, modelled)
