"""Fixtures: the virtual-lab station, opened as a real station would be."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mtj_hil.hardware import open_station
from mtj_hil.station import station_from_dict

STATION = Path(__file__).parents[2] / "stations" / "virtual-lab.toml"


@pytest.fixture
def station_dict() -> dict:
    """The shipped virtual-lab station file as nested dicts (tests modify copies)."""
    return tomllib.loads(STATION.read_text())


@pytest.fixture
def lab_chip(station_dict):
    """An InstrumentChip on the virtual lab (die 7 of lot 0); ``chip.lab`` is the lab."""
    with open_station(station_from_dict(station_dict, STATION)) as chip:
        yield chip
