"""The sense SMU's output is read back after it is switched on: an output relay that did
not close is an InstrumentError at open (not a station that measures nothing), and the
station is shut down on the way out."""

from __future__ import annotations

import tomllib

import pytest

import mtj_hil.station.connect as connect
from mtj_hil.errors import UnsafeShutdownWarning
from mtj_hil.instruments.errors import InstrumentError, UnsafeShutdown
from mtj_hil.station.files import station_from_dict

from .conftest import STATION


def test_an_output_that_does_not_switch_on_is_refused_at_open(monkeypatch, made_smus):
    real = connect.make_smu
    drivers = []

    def make(*args, **kwargs):
        driver = real(*args, **kwargs)
        driver._write_output_on = lambda: None  # the instrument ignores the output-on
        drivers.append(driver)
        return driver

    monkeypatch.setattr(connect, "make_smu", make)
    station = station_from_dict(tomllib.loads(STATION.read_text()), STATION)
    with (
        pytest.raises(InstrumentError, match="did not switch on"),
        connect.open_station(station, apply_calibration=False),
    ):
        pass
    assert drivers and all(d.off_confirmed for d in drivers)  # shut down on the way out
    assert made_smus and all(smu.output is False for smu in made_smus)


def test_an_smu_output_left_on_at_close_raises_unsafe_shutdown_naming_it(made_smus):
    """The board answers its reset but the sense SMU's output relay stays on: leaving the
    block is not a clean exit; UnsafeShutdown names the SMU and what to check."""
    station = station_from_dict(tomllib.loads(STATION.read_text()), STATION)
    with (
        pytest.raises(UnsafeShutdown, match="sense was NOT confirmed off") as info,
        connect.open_station(station, apply_calibration=False) as chip,
    ):
        chip.smus["sense"]._write_output_off = lambda: None  # the relay sticks
    assert info.value is not None and chip.shutdown.board_safe
    assert chip.shutdown.smu_off == {"sense": False}


def test_an_open_that_fails_with_an_output_left_on_says_so(monkeypatch):
    """Opening fails after the sense output went on, and its relay then sticks: the error
    raised carries the shutdown's account (a note) and a warning says it too."""
    real = connect.make_smu

    def make(*args, **kwargs):
        driver = real(*args, **kwargs)
        on = driver.enable_output

        def enable_then_fail():
            on()
            driver._write_output_off = lambda: None  # the relay sticks
            raise InstrumentError("sense SMU: lost after output on")

        driver.enable_output = enable_then_fail
        return driver

    monkeypatch.setattr(connect, "make_smu", make)
    station = station_from_dict(tomllib.loads(STATION.read_text()), STATION)
    with (
        pytest.warns(UnsafeShutdownWarning, match="sense was NOT confirmed off"),
        pytest.raises(InstrumentError, match="lost after output on") as info,
        connect.open_station(station, apply_calibration=False),
    ):
        pass
    assert any("NOT confirmed off" in note for note in info.value.__notes__)


def test_the_boards_port_is_closed_when_the_station_closes():
    station = station_from_dict(tomllib.loads(STATION.read_text()), STATION)
    with connect.open_station(station, apply_calibration=False) as chip:
        pass
    with pytest.raises(InstrumentError, match="connection is closed"):
        chip.controller.status()
