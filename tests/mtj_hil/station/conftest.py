"""Fixtures: the virtual-lab station, opened as a real station would be."""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any

import pytest

from mtj_hil.protocols.chip import Pulse
from mtj_hil.protocols.switching.procedure import SwitchingPlan
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

STATION = Path(__file__).parents[3] / "stations" / "virtual-lab.toml"
PULSE = Pulse(0.6, 1e-6)
"""The pulse of the one-point switching plans."""


def one_point_plan(**changes: Any) -> SwitchingPlan:
    """A switching plan of array 0 at the one point ``PULSE``, 2 trials, no floor or disturb
    trials (``changes``: other plan fields)."""
    return SwitchingPlan(
        arrays=(0,),
        amplitudes=(PULSE.amplitude,),
        widths=(PULSE.width,),
        trials=2,
        probe_trials=1,
        floor_trials=0,
        disturb_reads=0,
        **changes,
    )


@pytest.fixture(scope="session")
def calibration_dir(tmp_path_factory) -> Path:
    """A calibration of the virtual lab (its default imperfections), made once per session.

    The virtual lab's instruments carry realistic errors (converter gain and offset per
    line, SMU gain and offset, series resistance); like a real station it is calibrated
    before it measures. Every station opened from ``station_dict`` applies this record.
    """
    from mtj_hil.cli.calibration import calibrate_station

    directory = tmp_path_factory.mktemp("calibrations")
    data = tomllib.loads(STATION.read_text())
    data["calibration"]["dir"] = str(directory)
    with open_station(station_from_dict(data, STATION), apply_calibration=False) as chip:
        calibrate_station(chip, thresholds=False)
    return directory


@pytest.fixture
def station_dict(calibration_dir) -> dict:
    """The shipped virtual-lab station file as nested dicts (tests modify copies), with
    the session's calibration folder."""
    data = tomllib.loads(STATION.read_text())
    data["calibration"]["dir"] = str(calibration_dir)
    return data


@pytest.fixture
def lab_chip(station_dict):
    """An InstrumentChip on the virtual lab (die 7 of lot 0); ``chip.lab`` is the lab."""
    with open_station(station_from_dict(station_dict, STATION)) as chip:
        yield chip


@pytest.fixture
def made_smus(monkeypatch) -> list:
    """Every virtual SMU the virtual lab makes from here on, in order (to inspect their
    channels' outputs after the station is closed)."""
    import mtj_hil.sim.lab.lab as lab_module

    made: list = []
    real = lab_module.make_virtual_smu

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(lab_module, "make_virtual_smu", spy)
    return made
