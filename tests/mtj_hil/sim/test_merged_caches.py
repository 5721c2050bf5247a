"""The speed-ups (cached state conductances, block-wise reads) with the flaw sections on."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols.chip import CellState
from mtj_hil.sim.die import make_die
from mtj_hil.sim.profile import load_profile


def _uncached(die, array: int) -> np.ndarray:
    """The device conductance (S) from first principles, no cache."""
    g_p, g_ap = 1.0 / die.r_p[array], 1.0 / die.r_ap[array]
    g = np.where(die.state[array], g_p, g_ap)
    level = die.partial_level[array]
    mid = np.exp(np.log(g_ap) + level * np.log(g_p / g_ap))
    g = np.where(np.isfinite(level), mid, g)
    g = g + die.leak_g[array]
    g = np.where(die.defect[array] == 1, die.short_g[array], g)
    return np.where(die.defect[array] == 2, die.open_g[array], g)


def test_cached_conductance_follows_partial_levels_leaks_and_resistive_opens():
    prof = load_profile("1t1r-20k").replace(
        partial_switching={"fraction": 0.5, "probability": 0.9},
        pinholes={"fraction": 0.1},
        resistive_opens={"fraction": 1.0},
        populations={"fractions": [0.5, 0.5], "r_scale": [1.0, 1.5]},
    )
    die = make_die(prof, 0, 1)
    np.testing.assert_array_equal(die.conductance(0), _uncached(die, 0))
    for state in (CellState.AP, CellState.P, CellState.AP):
        die.apply_pulse(0, np.ones(die.shape[1:], bool), state, 0.9, 1e-6)
        assert np.isfinite(die.partial_level[0]).any()
        np.testing.assert_array_equal(die.conductance(0), _uncached(die, 0))
        np.testing.assert_array_equal(die.effective_conductance(0), _uncached(die, 0))


def test_a_refused_read_leaves_the_telegraph_traps_and_clock_alone():
    prof = load_profile("1t1r-20k").replace(telegraph={"fraction": 1.0, "rate": 1e3})
    die = make_die(prof, 0, 2)
    v = np.full((4, die.shape[1]), 0.1)
    die.read(0, v)
    occupied, when, clock = die.rtn_occupied[0].copy(), die.rtn_time[0].copy(), die.clock

    def refuse(low: float, high: float) -> None:
        raise ValueError("refused")

    die.clock += 1.0  # time passes: a read now would move the traps
    with pytest.raises(ValueError):
        die.read(0, v, check=refuse)
    np.testing.assert_array_equal(die.rtn_occupied[0], occupied)
    np.testing.assert_array_equal(die.rtn_time[0], when)
    assert die.clock == clock + 1.0
