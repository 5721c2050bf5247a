"""Bias-dependent conductance of the simulated die (the optional ``[bias]`` profile section)."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.errors import ConfigError
from mtj_hil.protocols.chip import CellState, Pulse
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.sim import SimulatedChip, load_profile
from mtj_hil.sim.die import make_die
from mtj_hil.sim.profile import as_dict, available_profiles, profile_from_dict
from mtj_hil.sim.profile_types import BiasDependence

LOT = 5151  # a lot no other test uses


def _die(profile):
    return make_die(profile.replace(geometry={"n_arrays": 2}), LOT, 0)


def _g(die, array, volts):
    """Conductance map (S) read one input line at a time at ``volts``."""
    rows = die.shape[1]
    return die.read(array, np.eye(rows) * volts) / volts


def test_ap_conductance_rises_with_bias_more_than_p_and_shorts_are_ohmic():
    prof = load_profile("1t1r-early-process").replace(read={"noise_rel": 0.0, "noise_abs": 0.0})
    die = _die(prof)
    ratio = _g(die, 0, 0.3) / _g(die, 0, 0.1)
    defect = die.defect[0]
    good = defect == DefectCode.GOOD
    p, ap = good & die.state[0], good & ~die.state[0]
    assert p.sum() > 50 and ap.sum() > 50
    # Both states rise with bias; AP by several times more than P (TMR falls with |V|).
    assert np.all(ratio[p] > 1.0) and np.all(ratio[ap] > 1.0)
    assert np.log(ratio[ap]).min() > 2 * np.log(ratio[p]).max()
    # TMR of a median device halves near v_half (extrapolated from the parabolic law).
    b = prof.bias
    k_ap, k_p = np.median(die.k_ap), np.median(die.k_p)
    tmr0 = prof.resistance.r_ap_median / prof.resistance.r_p_median - 1
    tmr_half = (1 + tmr0) * (1 + k_p * b.v_half**2) / (1 + k_ap * b.v_half**2) - 1
    assert tmr_half == pytest.approx(tmr0 / 2, rel=0.1)
    shorts = defect == DefectCode.SHORT
    if shorts.any():
        np.testing.assert_allclose(ratio[shorts], 1.0, rtol=1e-12)
    # Negative reads mirror positive ones (the law is even in V).
    np.testing.assert_allclose(_g(die, 0, -0.3), _g(die, 0, 0.3), rtol=1e-12)


def test_curvature_follows_the_state_after_a_write():
    prof = load_profile("1t1r-early-process").replace(read={"noise_rel": 0.0, "noise_abs": 0.0})
    chip = SimulatedChip(_die(prof))
    full = np.ones((25, 25), bool)
    pulse = Pulse(1.2, 1e-5)
    ratios = {}
    for state in (CellState.P, CellState.AP):
        chip.program(0, full, state, pulse)
        ratios[state] = np.log(
            chip.read(0, np.eye(25) * 0.3) / 0.3 / (chip.read(0, np.eye(25) * 0.1) / 0.1)
        )
    good = chip.die.defect[0] == DefectCode.GOOD
    assert np.median(ratios[CellState.AP][good]) > 3 * np.median(ratios[CellState.P][good])


def test_without_the_section_reads_are_bit_for_bit_the_linear_ones():
    prof = load_profile("1t1r-early-process")
    linear = prof.replace(bias=None)
    assert linear.bias is None and "bias" not in as_dict(linear)
    a, b = make_die(prof, LOT, 1), make_die(linear, LOT, 1)
    # The die is drawn identically (the curvatures come from a stream of their own)...
    for name in ("r_p", "r_ap", "vc_to_p", "defect", "state", "short_g"):
        np.testing.assert_array_equal(getattr(a, name), getattr(b, name))
    # ...and without [bias] a read is exactly V @ G.
    v = np.random.default_rng(0).uniform(0, 0.3, (7, 25))
    quiet = linear.replace(read={"noise_rel": 0.0, "noise_abs": 0.0})
    die = make_die(quiet, LOT, 1)
    np.testing.assert_array_equal(die.read(3, v), v @ die.conductance(3))


def test_bias_section_is_validated():
    data = as_dict(load_profile("1t1r-early-process"))
    with pytest.raises(ConfigError, match="bias.v_half"):
        profile_from_dict({**data, "bias": {**data["bias"], "v_half": 0.0}})
    with pytest.raises(ConfigError, match=r"bias\.v0 is not a key of \[bias\]"):
        profile_from_dict({**data, "bias": {**data["bias"], "v0": 1.0}})
    with pytest.raises(ConfigError, match="bias.p_curvature"):
        profile_from_dict({**data, "bias": {**data["bias"], "p_curvature": 0.95}})
    # a v_half the schema allows (>= 0.1 V) whose law turns the TMR negative below 0.3 V
    with pytest.raises(ConfigError, match=r"bias\.v_half = 0\.15 .*allowed > 0\.192 V.*TMR"):
        profile_from_dict({**data, "bias": {**data["bias"], "v_half": 0.15}})
    passive = as_dict(load_profile("passive-15x15"))
    with pytest.raises(ConfigError, match=r"\[bias\].*1T1R"):
        profile_from_dict({**passive, "bias": data["bias"]})
    # every shipped 1T1R die carries the physics every MgO junction shows
    for name in available_profiles():
        prof = load_profile(name)
        assert (prof.bias is not None) == (prof.geometry.cell == "1T1R"), name


@pytest.mark.parametrize(("tmr", "r"), [(0.3, 0.25), (0.75, 0.2), (2.0, 0.0), (5.0, 0.1)])
def test_the_shortest_v_half_is_where_the_tmr_reaches_zero_at_the_read_limit(tmr, r):
    """``BiasDependence.min_v_half``: just above it a device read at ``volts`` keeps a
    positive TMR, just below it its AP state conducts more than its P state."""
    b = BiasDependence(v_half=0.5, v_half_sigma=0.0, p_curvature=r)
    volts = 0.3
    shortest = b.min_v_half(tmr, volts)

    def tmr_at(v_half: float) -> float:
        k_ap = float(b.ap_curvature(tmr, v_half))
        return (1 + tmr) * (1 + r * k_ap * volts**2) / (1 + k_ap * volts**2) - 1

    assert tmr_at(shortest * 1.001) > 0 > tmr_at(shortest * 0.999)
    assert abs(tmr_at(shortest)) < 1e-9
    # a P curvature this large never lets the AP state overtake the P state
    never = BiasDependence(v_half=0.5, v_half_sigma=0.0, p_curvature=1.0 / (1 + tmr))
    assert never.min_v_half(tmr, volts) == 0.0
