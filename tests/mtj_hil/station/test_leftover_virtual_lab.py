"""A station file with real addresses that kept a ``[virtual_lab]`` section: against a
real board its runs were labelled as the section's simulated die, and ``--die-id`` was not
asked for. A lab served by ``mtj-hil lab serve`` (its board reports the virtual model)
keeps working."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mtj_hil.errors import ConfigError
from mtj_hil.sim.lab.lab import VirtualLab
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"


def _served(lab: VirtualLab):
    data = tomllib.loads(STATION.read_text())
    del data["calibration"]
    data["controller"]["url"] = lab.controller_url
    data["smu"]["sense"]["resource"] = lab.smu_resource
    return station_from_dict(data, STATION)  # [virtual_lab] kept, as lab serve writes it


def test_a_real_board_behind_a_virtual_lab_section_is_refused_before_any_smu():
    with VirtualLab("1t1r-20k", 0, 7) as lab:
        station = _served(lab)
        lab.board.model = "XBC-1"  # what a real board answers (docs/chip-protocol.md)
        sent = len(lab.smu.transcript)
        with (
            pytest.raises(ConfigError, match=r"\[virtual_lab\] names simulated die 7.*XBC-1"),
            open_station(station, apply_calibration=False),
        ):
            pass
        assert len(lab.smu.transcript) == sent  # the SMU never heard from us
        del lab.board.model  # the served lab's own board again
        with open_station(station, apply_calibration=False) as chip:
            chip.verify_instruments()
