"""A station whose second SMU cannot be opened, after the first was opened and found with its
output on (a previous user left it sourcing): the open fails naming the second SMU, and the
first is switched off and confirmed, the board reset."""

from __future__ import annotations

import socket
import tomllib
import warnings

import pytest

import mtj_hil.sim.lab.lab as lab_module
from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import STATION


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_a_second_smu_that_cannot_be_opened_leaves_the_first_off(monkeypatch):
    made: list = []
    real = lab_module.make_virtual_smu

    def spy(*args, **kwargs):
        made.append(real(*args, **kwargs))
        return made[-1]

    monkeypatch.setattr(lab_module, "make_virtual_smu", spy)
    station_dict = tomllib.loads(STATION.read_text())
    del station_dict["calibration"]
    station_dict["virtual_lab"]["smu_start"] = "output-on"
    resource = f"TCPIP::127.0.0.1::{_closed_port()}::SOCKET"
    station_dict["smu"]["drive"] = {"driver": "keithley2450", "resource": resource,
                                    "role": "drive", "nplc": 1}  # fmt: skip
    station = station_from_dict(station_dict, STATION)
    with (
        warnings.catch_warnings(),
        pytest.raises(InstrumentError, match=r"SMU drive \(keithley2450\) at TCPIP"),
    ):
        warnings.simplefilter("error")  # an unsafe shutdown would warn
        with open_station(station, apply_calibration=False):
            pass
    (sense,) = made
    assert sense.history[0].output is True  # found sourcing
    assert sense.output is False
    assert sense.history[-1].output is False
