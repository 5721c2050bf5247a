"""A station built in code (no file, so no load-time check) whose SMU compliance exceeds
the envelope is refused when the chip opens: no SMU is configured with it, no output goes on."""

from __future__ import annotations

import dataclasses
import tomllib

import pytest

from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

from .conftest import STATION


def test_a_compliance_above_the_envelope_is_refused_at_open_and_no_output_goes_on(
    made_smus,
):
    station = station_from_dict(tomllib.loads(STATION.read_text()), STATION)
    limit = station.envelope.compliance_current
    smus = tuple(dataclasses.replace(s, compliance=2 * limit) for s in station.smus)
    station = dataclasses.replace(station, smus=smus)
    with (
        pytest.raises(SafetyViolation, match="compliance"),
        open_station(station, apply_calibration=False),
    ):
        pass
    assert made_smus
    for smu in made_smus:
        on = [a for a in smu.history if a.output][1:]  # past the start state's own entry
        assert not on and smu.output is False


def test_a_compliance_the_wire_rounds_above_the_envelope_is_refused_at_open(
    station_dict, made_smus
):
    """A limit of 0.99999999996 mA and an SMU compliance equal to it: the wire's 10
    significant digits would send 0.001 A."""
    limit = 9.9999999996e-4
    station_dict["safety"]["compliance_current"] = limit
    station_dict["smu"]["sense"]["compliance"] = limit
    with (
        pytest.raises(
            SafetyViolation, match=r"0\.00099999999996 A goes to the instrument as 0\.001"
        ),
        open_station(station_from_dict(station_dict, STATION), apply_calibration=False),
    ):
        pass
    assert made_smus
    for smu in made_smus:
        sent = [c for c, _ in smu.transcript if "CURR:PROT " in c.upper()]
        assert not sent, sent
