"""One check for a write pulse against the die's limits, for every write-verify plan: an
explicit pulse is named as given, an absent one as the die's nominal pulse, and a negative
amplitude (amplitudes are magnitudes) is refused."""

from __future__ import annotations

import dataclasses

import pytest

from mtj_hil.protocols.chip import Pulse, check_write_pulse
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.write import full_range_plan, pulse_plan
from mtj_hil.sim import load_profile


def _layout(max_amplitude: float):
    layout = load_profile("1t1r-20k").layout
    return dataclasses.replace(
        layout, limits=dataclasses.replace(layout.limits, max_pulse_amplitude=max_amplitude)
    )


def test_the_nominal_pulse_is_named_when_it_is_outside_the_limits():
    layout = _layout(0.5)
    assert layout.nominal_pulse.amplitude > 0.5
    for plan in (
        lambda: pulse_plan(layout, None, 3, 0.05),
        lambda: full_range_plan(layout, None, 3),
    ):
        with pytest.raises(InvalidRequest, match="the die's nominal write pulse"):
            plan()
    inside = Pulse(0.4, layout.nominal_pulse.width)
    assert pulse_plan(layout, inside, 2, 0.05)[0] == inside


def test_an_explicit_pulse_is_named_as_given_and_a_negative_one_refused():
    layout = load_profile("1t1r-20k").layout
    width = layout.nominal_pulse.width
    assert check_write_pulse(layout, None) == layout.nominal_pulse
    with pytest.raises(InvalidRequest, match=r"^pulse amplitude -0\.8 V lies outside"):
        check_write_pulse(layout, Pulse(-0.8, width))
    with pytest.raises(InvalidRequest, match=r"^set pulse width 1 s lies outside"):
        check_write_pulse(layout, Pulse(0.8, 1.0), "set pulse")


def test_a_pulse_an_ulp_above_the_limit_reads_differently_from_it():
    layout = _layout(1.2)
    width = layout.nominal_pulse.width
    with pytest.raises(
        InvalidRequest, match=r"amplitude 1\.2000000000000002 V lies outside .*\.\.1\.2 V\)"
    ):
        check_write_pulse(layout, Pulse(1.2000000000000002, width))
    with pytest.raises(InvalidRequest, match=r"amplitude 1\.3 V lies outside .*\.\.1\.2 V\)"):
        check_write_pulse(layout, Pulse(1.3, width))
