"""A current beyond a fixed measurement range (``current_range``) is no reading: each SMU
model reports it as its manual says (2400: the clamped value and status bit 16, range
compliance; 2450: 9.9e37 and the measure-status overrange bit; 2600: 9.91e37, "an overrange
... is returned" (2600B Reference Manual, smuX.measure.rangeY); B2900: the overflow number
and status bit 13), and the chip refuses it instead of returning the clamped current."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import STATION

pytestmark = pytest.mark.slow  # each test opens the virtual-lab station


@pytest.mark.parametrize(
    "driver", ["keithley2400", "keithley2450", "keithley2600", "keysight_b2900"]
)
def test_a_current_beyond_a_fixed_range_is_not_read_as_a_measurement(station_dict, driver):
    data = copy.deepcopy(station_dict)
    data["station"]["read_path"] = "smu"
    data["smu"]["sense"].update(driver=driver, current_range=1e-6)  # ~5 uA flow at 0.1 V
    volts = np.zeros((1, 25))
    volts[0, 3] = 0.1
    station = station_from_dict(data, STATION)
    with (
        open_station(station, apply_calibration=False) as chip,
        pytest.raises(InstrumentError, match="range|overflow|not a measurement"),
    ):
        chip.read(0, volts)


def test_a_current_within_the_fixed_range_reads(station_dict):
    data = copy.deepcopy(station_dict)
    data["station"]["read_path"] = "smu"
    data["smu"]["sense"].update(driver="keithley2600", current_range=1e-4)
    volts = np.zeros((1, 25))
    volts[0, 3] = 0.1
    with open_station(station_from_dict(data, STATION), apply_calibration=False) as chip:
        currents = chip.read(0, volts)
    assert np.all(np.isfinite(currents)) and 1e-6 < np.abs(currents).max() < 1e-4
