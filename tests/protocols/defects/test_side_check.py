"""The held-out side check (:func:`diagnostics.excess_on_side`) on coarse readings."""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols.defects.diagnostics import excess_on_side

GOOD, SHORT, OPEN, STUCK_P, STUCK_AP = range(5)
STEP = 0.33  # one converter step against the P level (log units), as 8 bits at 0.1 V


def _case(shift_stuck: float, seed: int = 0):
    """Switchers whose P reads round to the median's code; 60 stuck-P devices averaged over
    more reads, whose means scatter within half a step of it (plus ``shift_stuck``)."""
    rng = np.random.default_rng(seed)
    n_sw, n_st = 2000, 60
    sw = np.round(rng.normal(0.0, 0.05, n_sw) / STEP) * STEP  # nearly all exactly 0
    st = rng.uniform(0.01, 0.45 * STEP, n_st) + shift_stuck  # the reads' average: off the code
    x = np.concatenate([sw, st])[None, :]
    clean = np.concatenate([np.ones(n_sw, bool), np.zeros(n_st, bool)])[None, :]
    post = np.zeros((1, n_sw + n_st, 5))
    post[0, :n_sw, GOOD] = 1.0
    post[0, n_sw:, STUCK_P] = 0.99
    post[0, n_sw:, SHORT] = 0.01
    return post, x, clean


def test_rounding_within_half_a_step_is_not_a_hidden_population():
    post, x, clean = _case(0.0)
    args = (post, x, clean, x, np.zeros(1), STUCK_P, SHORT, True)
    moved, pi = excess_on_side(*args, tie=0.5 * STEP)
    assert pi == 0.0
    np.testing.assert_array_equal(moved, post)
    # without the tie band the same rounding reads as every stuck call being a short
    _, pi_blind = excess_on_side(*args)
    assert pi_blind > 0.9


def test_stuck_calls_beyond_the_step_still_move_to_the_rival():
    post, x, clean = _case(STEP)
    moved, pi = excess_on_side(post, x, clean, x, np.zeros(1), STUCK_P, SHORT, True, tie=0.5 * STEP)
    assert pi > 0.9
    assert np.all(moved[0, 2000:, SHORT] > 0.9)
