"""One two-channel SMU written under two spellings of its address: VISA compares resource
names without case, with board 0 and class INSTR as defaults, so the station does too; and
an instrument reached under two host names is told by its ``*IDN?`` before anything is
configured. Two drivers on one unit each reset the channel the other one uses: the sense
channel was switched on at the reset's 1 A / 40 V limits."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from mtj_hil.errors import ConfigError
from mtj_hil.instruments.bus.resource_names import resource_identity
from mtj_hil.sim.lab.lab import VirtualLab
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("TCPIP::10.0.0.5::5025::SOCKET", "tcpip0::10.0.0.5::5025::socket"),
        ("GPIB::24", "gpib0::24::instr"),
        ("TCPIP::bench-smu::inst0::INSTR", "TCPIP0::BENCH-SMU::INSTR"),
        ("USB::0x05E6::0x2602::4398123::INSTR", "usb0::0x05e6::0x2602::4398123::instr"),
    ],
)
def test_spellings_of_one_address_are_one_resource(one, other):
    assert resource_identity(one) == resource_identity(other)


@pytest.mark.parametrize(
    ("one", "other"),
    [
        ("GPIB0::24::INSTR", "GPIB1::24::INSTR"),
        ("TCPIP::h::5025::SOCKET", "TCPIP::h::5026::SOCKET"),
    ],
)
def test_other_addresses_stay_apart(one, other):
    assert resource_identity(one) != resource_identity(other)


def _station(lab: VirtualLab, drive_resource: str, channel: str):
    data = tomllib.loads(STATION.read_text())
    del data["calibration"]
    data["controller"]["url"] = lab.controller_url
    data["smu"]["sense"].update(driver="keithley2600", resource=lab.smu_resource)
    data["smu"]["drive"] = {
        "driver": "keithley2600",
        "resource": drive_resource,
        "role": "drive",
        "channel": channel,
        "compliance": 1e-3,
    }
    return station_from_dict(data, STATION)


@pytest.fixture
def lab():
    with VirtualLab("1t1r-20k", 0, 7, smu_dialect="keithley2600") as served:
        yield served


def test_one_channel_under_two_spellings_is_refused_when_the_file_loads(lab):
    alias = lab.smu_resource.replace("TCPIP::", "tcpip0::")
    with pytest.raises(ConfigError, match="are one VISA address"):
        _station(lab, alias, "a")


def test_two_channels_under_two_spellings_share_one_instrument(lab):
    station = _station(lab, lab.smu_resource.replace("TCPIP::", "tcpip::"), "b")
    with open_station(station, apply_calibration=False) as chip:
        sense = lab.smu.channels["a"].state
        assert sense.output and sense.limit_i == pytest.approx(1e-3)  # never the reset's 1 A
        chip.verify_instruments()
    assert not any(c.state.output for c in lab.smu.channels.values())


def test_one_instrument_under_two_host_names_is_refused_before_any_setting(lab):
    station = _station(lab, lab.smu_resource.replace("127.0.0.1", "localhost"), "b")
    sent = len(lab.smu.transcript)
    refused = pytest.raises(ConfigError, match="one instrument under two addresses")
    with refused, open_station(station, apply_calibration=False):
        pass
    commands = [line for line, _ in list(lab.smu.transcript)[sent:]]
    # the sense channel was never set up or switched on; the failed open's shutdown made
    # the rest of the unit safe, as after any failed open
    assert not any(
        c.startswith("smua.") and "=" in c and "OFF" not in c and "levelv = 0" not in c
        for c in commands
    )
    assert not any("OUTPUT_ON" in c or "smua.reset()" in c for c in commands)
    assert not any(c.state.output for c in lab.smu.channels.values())
