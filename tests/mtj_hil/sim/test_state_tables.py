"""The per-array state tables give bit for bit the from-scratch conductances, curvatures and
reads, through pulses that switch devices, break some down and leave some half-way."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols.chip import CellState
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.sim.die import make_die
from mtj_hil.sim.profile import load_profile

QUIET = {"noise_rel": 0.0, "noise_abs": 0.0, "offset_sigma": 0.0}
FLAWS = {
    "partial_switching": {"fraction": 0.5, "probability": 0.9},
    "pinholes": {"fraction": 0.1},
    "resistive_opens": {"fraction": 1.0},
}


def _scratch(die, array: int) -> tuple[np.ndarray, np.ndarray]:
    """Conductance (S) and curvature (1/V^2) of ``array`` from first principles, no cache."""
    g_p, g_ap = 1.0 / die.r_p[array], 1.0 / die.r_ap[array]
    state, defect = die.state[array], die.defect[array]
    g = np.where(state, g_p, g_ap)
    k = np.where(state, die.k_p[array], die.k_ap[array])
    if die.partial_level is not None:
        level = die.partial_level[array]
        mid = np.exp(np.log(g_ap) + level * np.log(g_p / g_ap))
        g = np.where(np.isfinite(level), mid, g)
        k_mid = die.k_ap[array] + level * (die.k_p[array] - die.k_ap[array])
        k = np.where(np.isfinite(level), k_mid, k)
    if die.leak_g is not None:
        g = g + die.leak_g[array]
    g = np.where(defect == DefectCode.SHORT, die.short_g[array], g)
    open_g = die.profile.defects.open_g if die.open_g is None else die.open_g[array]
    g = np.where(defect == DefectCode.OPEN, open_g, g)
    ohmic = (defect == DefectCode.SHORT) | (defect == DefectCode.OPEN)
    return g, np.where(ohmic, 0.0, k)


@pytest.mark.parametrize("flaws", [{}, FLAWS], ids=["plain", "flaws"])
def test_tables_match_the_formulas_through_switching_and_breakdown(flaws):
    die = make_die(load_profile("1t1r-20k").replace(read=QUIET, **flaws), 0, 3)
    rng = np.random.default_rng(5)
    v = rng.uniform(0.0, 0.3, (40, die.shape[1]))
    shorts_before = int((die.defect[1] == DefectCode.SHORT).sum())
    pulses = [(CellState.AP, 0.9), (CellState.P, 0.9), (CellState.AP, 0.7), (CellState.P, 3.0)]
    for state, amplitude in pulses:
        die.read(1, v)  # builds (and caches) the tables before the pulse
        mask = rng.random(die.shape[1:]) < 0.6
        die.apply_pulse(1, mask, state, amplitude, 1e-6)
        g, k = _scratch(die, 1)
        np.testing.assert_array_equal(die.conductance(1), g)
        np.testing.assert_array_equal(die.curvature(1), k)
        barrier = g if die.leak_g is None else g - die.leak_g[1]
        expected = v @ g + (v * v * v) @ (barrier * k)
        np.testing.assert_array_equal(die.read(1, v), expected)
    # the last pulse (3 V) broke devices down: the tables followed the new shorts
    assert int((die.defect[1] == DefectCode.SHORT).sum()) > shorts_before


def test_whole_die_conductance_matches_per_array():
    die = make_die(load_profile("1t1r-20k").replace(**FLAWS), 0, 4)
    die.apply_pulse(0, np.ones(die.shape[1:], bool), CellState.P, 0.9, 1e-6)
    whole = die.conductance()
    for array in (0, 1, die.shape[0] - 1):
        np.testing.assert_array_equal(whole[array], die.conductance(array))
