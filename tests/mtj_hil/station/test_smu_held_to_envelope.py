"""An SMU a station opens is held to the station's envelope whoever calls it: a script that
reaches ``chip.smus[...]`` cannot configure a larger source bound or compliance, raise the
compliance mid-run, or (2400, whose pymeasure base class can) source current or switch the
output on outside the verified known state. And a station file cannot wire one channel to
two roles, or name a channel its instrument does not have."""

from __future__ import annotations

import copy

import pytest

from mtj_hil.errors import ConfigError
from mtj_hil.instruments.errors import InstrumentError, SafetyViolation
from mtj_hil.instruments.smu.known_state import SmuSettings
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import STATION

DRIVERS = ("keithley2400", "keithley2450", "keithley2600", "keysight_b2900")


def _open(station_dict, driver):
    data = copy.deepcopy(station_dict)
    data["smu"]["sense"]["driver"] = driver
    return open_station(station_from_dict(data, STATION), apply_calibration=False)


def _beyond(settings: SmuSettings, **changes) -> SmuSettings:
    values = {k: getattr(settings, k) for k in settings.__dataclass_fields__}
    return SmuSettings(**{**values, **changes})


@pytest.mark.slow
@pytest.mark.parametrize("driver", DRIVERS)
def test_configure_compliance_and_level_beyond_the_envelope_are_refused(station_dict, driver):
    with _open(station_dict, driver) as chip:
        smu = chip.smus["sense"]
        verified = smu.known_state.settings
        limit_v, limit_a = chip.envelope.max_read_voltage, chip.envelope.compliance_current
        for changes in ({"max_voltage": 5.0}, {"compliance": 10 * limit_a}):
            with pytest.raises(SafetyViolation, match="configure refused"):
                smu.configure(_beyond(verified, **changes))
        assert smu.known_state.settings == verified  # nothing was sent: still verified
        with pytest.raises(SafetyViolation, match="compliance"):
            smu.compliance_current = 10 * verified.compliance
        with pytest.raises(SafetyViolation, match="source level"):
            smu.source_voltage = 2 * limit_v
        smu.compliance_current = verified.compliance / 2  # tightening is allowed
        assert smu.compliance_current == pytest.approx(verified.compliance / 2)
        smu.compliance_current = verified.compliance
        chip.verify_instruments()  # the run can go on


@pytest.mark.slow
def test_the_2400s_inherited_current_source_and_output_calls_are_refused(station_dict):
    with _open(station_dict, "keithley2400") as chip:
        smu = chip.smus["sense"]
        for call in (
            lambda: smu.apply_current(),
            lambda: smu.apply_voltage(compliance_current=0.1),
            lambda: smu.ramp_to_current(1e-3),
            lambda: setattr(smu, "source_current", 0.1),
            lambda: setattr(smu, "source_mode", "current"),
            lambda: setattr(smu, "compliance_voltage", 20.0),
        ):
            with pytest.raises(SafetyViolation, match="refused"):
                call()
        assert smu.ask(":SOUR:FUNC?").strip().strip('"').upper().startswith("VOLT")
        smu.disable_output()
        smu.known_state = None  # as after a configure that did not verify
        with pytest.raises(InstrumentError):
            smu.source_enabled = True
        with pytest.raises(InstrumentError):
            smu.enable_source()
        assert smu.output_enabled is False


def _station(station_dict, smus: dict) -> None:
    data = copy.deepcopy(station_dict)
    data["smu"] = smus
    station_from_dict(data, STATION)


def _entry(role: str, driver: str, resource: str = "TCPIP::10.0.0.5::5025::SOCKET", **more):
    return {"role": role, "driver": driver, "resource": resource, "compliance": 1e-3, **more}


@pytest.mark.parametrize(
    ("smus", "key"),
    [
        (
            {
                "sense": _entry("sense", "keithley2600", channel="a"),
                "drive": _entry("drive", "keithley2600", channel="a"),
            },
            "smu.drive",
        ),
        (
            {
                "sense": _entry("sense", "keithley2600", "virtual"),
                "drive": _entry("drive", "keithley2600", "virtual"),
            },
            "smu.drive",
        ),
        (
            {"sense": _entry("sense", "keithley2400"), "drive": _entry("drive", "keithley2400")},
            "smu.drive",
        ),
        (
            {"sense": _entry("sense", "keithley2400"), "drive": _entry("drive", "keithley2450")},
            "smu.drive.resource",
        ),
        ({"sense": _entry("sense", "keithley2400", channel="b")}, "smu.sense.channel"),
        ({"sense": _entry("sense", "keithley2450", channel=2)}, "smu.sense.channel"),
        ({"sense": _entry("sense", "keithley2600", "virtual", channel="B")}, "smu.sense.channel"),
        ({"sense": _entry("sense", "keysight_b2900", channel=3)}, "smu.sense.channel"),
    ],
    ids=[
        "2600-channel-twice",
        "virtual-2600-channel-twice",
        "2400-twice",
        "two-models-one-address",
        "2400-channel-b",
        "2450-channel-2",
        "2600-channel-B",
        "b2900-channel-3",
    ],
)
def test_a_station_that_cannot_be_wired_as_written_is_refused_naming_the_key(
    station_dict, smus, key
):
    with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
        _station(station_dict, smus)


def test_two_channels_of_one_unit_and_separate_instruments_load(station_dict):
    _station(
        station_dict,
        {
            "sense": _entry("sense", "keithley2600", channel="a"),
            "drive": _entry("drive", "keithley2600", channel="b"),
        },
    )
    _station(
        station_dict,
        {
            "sense": _entry("sense", "keithley2400", "virtual"),
            "drive": _entry("drive", "keithley2450", "virtual"),
        },
    )


@pytest.mark.parametrize(
    ("section", "key", "value"),
    [
        ("controller", "timeout", 1e12),
        ("controller", "write_timeout", 1e7),
        ("safety", "max_ramp_rate", 1e-9),
    ],
)
def test_timeouts_past_an_hour_and_a_ramp_that_would_never_end_are_refused(
    station_dict, section, key, value
):
    """A 1e12 s timeout overflowed the serial driver; a 1e-9 V/s ramp would hold a shutdown
    (stop signals held) for years."""
    data = copy.deepcopy(station_dict)
    data[section][key] = value
    with pytest.raises(ConfigError, match=f"{section}.{key}"):
        station_from_dict(data, STATION)
