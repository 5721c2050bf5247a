"""A sequence step's threshold must be a conductance: a NaN or negative one is refused before
anything is applied (a board's threshold codes and a host's ``g > threshold`` would read it
differently)."""

from __future__ import annotations

import math

import pytest

from mtj_hil.protocols import CellState
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.sequence import ReadStates, WriteAll, run_sequence
from mtj_hil.sim import SimulatedChip


@pytest.mark.parametrize("thr", [math.nan, -1e-4, 0.0, math.inf])
@pytest.mark.parametrize("kind", [WriteAll, ReadStates])
def test_a_threshold_that_is_no_conductance_is_refused_before_anything_is_applied(kind, thr):
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 7)
    step = kind(CellState.P, threshold=thr) if kind is WriteAll else kind(threshold=thr)
    before = chip.die.state.copy()
    with pytest.raises(InvalidRequest, match=r"sequence step 1: threshold must be > 0 S"):
        run_sequence(chip, 0, [ReadStates(), step])
    assert (chip.die.state == before).all()
