"""The safety envelope on its own: every bound refuses what lies beyond it, NaN and inf
included, and allows its own edges (each check here was shown to fail when its guard in
``instruments/safety.py`` is removed or weakened)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.instruments.safety import SafetyEnvelope

LIMITS = dict(
    max_read_voltage=0.2,
    min_pulse_amplitude=0.3,
    max_pulse_amplitude=0.9,
    min_pulse_width=1e-9,
    max_pulse_width=1e-6,
    compliance_current=1e-3,
)


@pytest.fixture
def env() -> SafetyEnvelope:
    return SafetyEnvelope(**LIMITS)


@pytest.mark.parametrize("key", sorted(LIMITS))
@pytest.mark.parametrize("value", [0.0, -1.0, math.nan, math.inf])
def test_an_envelope_with_a_limit_that_is_not_a_positive_number_is_refused(
    key: str, value: float
) -> None:
    with pytest.raises(SafetyViolation, match=key):
        SafetyEnvelope(**{**LIMITS, key: value})


@pytest.mark.parametrize(
    "swap", [("min_pulse_amplitude", 1.0), ("min_pulse_width", 2e-6)], ids=["amp", "width"]
)
def test_an_envelope_whose_minimum_exceeds_its_maximum_is_refused(swap: tuple) -> None:
    with pytest.raises(SafetyViolation, match="exceeds"):
        SafetyEnvelope(**{**LIMITS, swap[0]: swap[1]})


@pytest.mark.parametrize(
    "amp, width",
    [
        (math.nan, 1e-7),
        (math.inf, 1e-7),
        (-math.inf, 1e-7),
        (0.5, math.nan),
        (0.5, math.inf),
        (0.95, 1e-7),
        (-0.95, 1e-7),
        (0.5, 2e-6),
        (0.2, 1e-7),
        (0.5, 5e-10),
    ],
)
def test_a_pulse_outside_the_envelope_or_not_finite_is_refused(
    env: SafetyEnvelope, amp: float, width: float
) -> None:
    with pytest.raises(SafetyViolation):
        env.check_pulse(amp, width)
    with pytest.raises(SafetyViolation):
        env.check_pulses(np.array([0.5, amp]), np.array([1e-7, width]))


def test_the_envelope_edges_are_allowed(env: SafetyEnvelope) -> None:
    for amp in (0.3, 0.9, -0.9):
        for width in (1e-9, 1e-6):
            env.check_pulse(amp, width)
    env.check_pulses(np.array([0.3, 0.9, -0.9]), np.array([1e-9, 1e-6, 1e-6]))
    env.check_read_voltages(np.array([-0.2, 0.0, 0.2]))
    env.check_compliance(1e-3)


@pytest.mark.parametrize(
    "volts", [[0.1, -0.25], [0.1, 0.25], [0.1, math.nan], [math.nan], [0.1, -math.inf]]
)
def test_a_read_voltage_beyond_the_bound_either_sign_or_not_finite_is_refused(
    env: SafetyEnvelope, volts: list
) -> None:
    with pytest.raises(SafetyViolation, match="read voltage"):
        env.check_read_voltages(np.array(volts))


@pytest.mark.parametrize("lowest, highest", [(0.1, math.nan), (math.nan, 0.1), (-0.3, 0.1)])
def test_a_read_range_with_either_end_bad_is_refused(
    env: SafetyEnvelope, lowest: float, highest: float
) -> None:
    with pytest.raises(SafetyViolation, match="read voltage"):
        env.check_read_range(lowest, highest)


@pytest.mark.parametrize("amps", [0.0, -1e-3, 1.5e-3, math.nan])
def test_a_compliance_outside_the_envelope_is_refused(env: SafetyEnvelope, amps: float) -> None:
    with pytest.raises(SafetyViolation, match="compliance"):
        env.check_compliance(amps)


UP = math.inf


@pytest.mark.parametrize(
    ("check", "said"),
    [
        (
            lambda e: e.check_pulse(math.nextafter(0.9, UP), 1e-7),
            "pulse amplitude 0.9000000000000001 V is outside the safe range 0.3..0.9 V",
        ),
        (
            lambda e: e.check_pulse(math.nextafter(0.3, 0), 1e-7),
            "pulse amplitude 0.29999999999999993 V is outside the safe range 0.3..0.9 V",
        ),
        (
            lambda e: e.check_pulse(0.5, math.nextafter(1e-6, UP)),
            "pulse width 1.0000000000000002e-06 s is outside the safe range 1e-09..1e-06 s",
        ),
        (
            lambda e: e.check_read_voltages(np.array([math.nextafter(0.2, UP)])),
            "read voltage 0.20000000000000004 V exceeds the safe limit of 0.2 V",
        ),
        (
            lambda e: e.check_compliance(math.nextafter(1e-3, UP)),
            "compliance 0.0010000000000000002 A is outside 0..0.001 A",
        ),
    ],
    ids=["amplitude-above", "amplitude-below", "width", "read", "compliance"],
)
def test_a_value_an_ulp_beyond_a_limit_reads_differently_from_it(env, check, said):
    with pytest.raises(SafetyViolation) as info:
        check(env)
    assert str(info.value) == said


def test_values_clearly_beyond_keep_their_short_form(env):
    with pytest.raises(SafetyViolation) as info:
        env.check_pulse(1.23456, 1e-7)
    assert str(info.value) == "pulse amplitude 1.235 V is outside the safe range 0.3..0.9 V"
    with pytest.raises(
        SafetyViolation, match=r"^read voltage 0\.25 V exceeds the safe limit of 0\.2 V"
    ):
        env.check_read_voltages(np.array([0.25]))
