"""SMU source levels go on the wire with 10 significant digits: a level at a known-state
bound the wire cannot express exactly (0.29999999996 V goes as ``0.3``) is refused,
naming the level and the bound, instead of reaching the instrument above the bound; levels
the wire carries exactly go out byte for byte as before. The ``source_voltage`` setter
honours the known-state bound like every other way of setting a level."""

import pytest
from pymeasure.test import expected_protocol

from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.instruments.smu import Keithley2400SourceMeter
from mtj_hil.instruments.smu.known_state import SmuSettings

INIT = (":FORMAT:ELEMENTS VOLTAGE, CURRENT, RESISTANCE, TIME, STATUS", None)
BOUND = 0.29999999996


def configured(pairs):
    """A 2400 whose known state bounds the source at :data:`BOUND` V."""
    proto = expected_protocol(Keithley2400SourceMeter, [INIT, *pairs])
    smu = proto.__enter__()
    smu._settings = SmuSettings(max_voltage=BOUND, compliance=1e-3, ramp_rate=100.0)
    return proto, smu


@pytest.mark.parametrize(
    "send",
    [
        lambda smu: setattr(smu, "source_voltage", BOUND),
        lambda smu: smu.sweep_voltages([0.1, BOUND]),
        lambda smu: smu.ramp_to_voltage(-BOUND, 0.05, 100.0),
    ],
    ids=["level", "sweep", "ramp"],
)
def test_a_level_at_a_bound_the_wire_rounds_above_is_refused_before_anything_is_sent(send):
    proto, smu = configured([])  # nothing may be written
    with pytest.raises(
        SafetyViolation, match=r"0\.29999999996 V goes to the instrument as -?0\.3 V"
    ):
        send(smu)
    proto.__exit__(None, None, None)


def test_a_level_beyond_the_bound_is_refused_by_the_setter_too():
    proto, smu = configured([])
    with pytest.raises(SafetyViolation, match=r"source level 0\.5 V outside"):
        smu.source_voltage = 0.5
    proto.__exit__(None, None, None)


def test_levels_the_wire_carries_exactly_go_out_unchanged():
    proto, smu = configured([(":SOURCE:VOLTAGE 0.29999", None)])
    smu.source_voltage = 0.29999
    proto.__exit__(None, None, None)
