"""A virtual-lab station chooses the dialect of each SMU and the state it is found in."""

from __future__ import annotations

import tomllib
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.errors import ConfigError
from mtj_hil.sim.lab import SMU_DIALECTS
from mtj_hil.sim.lab.smu.dialects import dialect_class
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

STATION = Path(__file__).parents[4] / "stations" / "virtual-lab.toml"


def station(driver: str, **lab: object) -> dict:
    data = tomllib.loads(STATION.read_text())
    data["station"]["read_path"] = "smu"
    data["smu"]["sense"]["driver"] = driver
    data["virtual_lab"].update(lab)
    del data["calibration"]
    return data


@pytest.mark.parametrize("driver", SMU_DIALECTS)
@pytest.mark.slow
def test_each_driver_key_is_served_by_its_dialect_and_reads_the_die(driver):
    with open_station(station_from_dict(station(driver), STATION)) as chip:
        assert type(chip.lab.smu) is dialect_class(driver)
        vectors = np.zeros((1, 25))
        vectors[0, 5] = 0.1
        currents = chip.read(1, vectors)[0]
        truth = chip.lab.die.conductance(1)[5] * 0.1
        ok = truth > 1e-6
        np.testing.assert_allclose(currents[ok], truth[ok], rtol=0.03)
        lab = chip.lab
    assert not lab.smu.output


@pytest.mark.slow
def test_two_channels_of_a_2600_share_one_instrument_and_other_drivers_get_their_own():
    data = station("keithley2600")
    data["station"]["read_path"] = "adc"
    data["smu"]["sense"]["channel"] = "b"
    data["smu"]["drive"] = {"driver": "keithley2600", "resource": "virtual", "role": "drive",
                            "channel": "a"}  # fmt: skip
    with open_station(station_from_dict(data, STATION)) as chip:
        assert chip.lab.smu.main.name == "b"
        assert chip.lab.extra_smus == {}
    data["smu"]["drive"] = {"driver": "keithley2450", "resource": "virtual", "role": "drive"}
    with open_station(station_from_dict(data, STATION)) as chip:
        assert set(chip.lab.extra_smus) == {"drive"}


def test_smu_start_key_is_checked_and_used():
    with pytest.raises(ConfigError, match="virtual_lab.smu_start"):
        station_from_dict(station("keithley2450", smu_start="as-left"), STATION)
    st = station_from_dict(station("keithley2450", smu_start="stale-errors"), STATION)
    assert st.virtual_lab is not None and st.virtual_lab.smu_start == "stale-errors"


def test_lab_serve_takes_dialect_and_start(capsys):
    from mtj_hil.cli.main import main

    args = ["lab", "serve", "--station", str(STATION), "--seconds", "0"]
    assert main([*args, "--smu-dialect", "keysight_b2900", "--smu-start", "output-on"]) == 0
    assert "keysight_b2900, output-on" in "".join(capsys.readouterr())
    assert main([*args, "--smu-start", "as-left"]) == 3
    assert "as-left" in "".join(capsys.readouterr())
