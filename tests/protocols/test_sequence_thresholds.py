"""A sequence step's threshold must be a conductance, or one per cell of the die: a NaN, a
negative one or a map of the wrong shape is refused before anything is applied (a board's
threshold codes and a host's ``g > threshold`` would read it differently)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from mtj_hil.protocols import CellState
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.sequence import ReadStates, WriteAll, run_sequence
from mtj_hil.sim import SimulatedChip


@pytest.mark.parametrize("thr", [math.nan, -1e-4, 0.0, math.inf])
@pytest.mark.parametrize("kind", [WriteAll, ReadStates])
def test_a_threshold_that_is_no_conductance_is_refused_before_anything_is_applied(kind, thr):
    _refused_with_nothing_applied(kind, thr, r"sequence step 1: threshold must be > 0 S")


def _refused_with_nothing_applied(kind: type, thr: object, match: str) -> None:
    """A ``kind`` step (WriteAll or ReadStates) with threshold ``thr``, second in a sequence,
    is refused (``match``) and no device changes state."""
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 7)
    step = kind(CellState.P, threshold=thr) if kind is WriteAll else kind(threshold=thr)
    before = chip.die.state.copy()
    with pytest.raises(InvalidRequest, match=match):
        run_sequence(chip, 0, [ReadStates(), step])
    assert (chip.die.state == before).all()


def _cells(value: float = 1.8e-4) -> np.ndarray:
    return np.full((25, 25), value)


@pytest.mark.parametrize(
    ("thr", "said"),
    [
        (np.full((25, 24), 1.8e-4), r"the die's shape \(25, 25\); got shape \(25, 24\)"),
        (np.full(625, 1.8e-4), r"the die's shape \(25, 25\); got shape \(625,\)"),
        (np.where(np.eye(25, dtype=bool), np.nan, _cells()), "threshold must be > 0 S, got nan"),
        (np.where(np.eye(25, dtype=bool), -1e-4, _cells()), "threshold must be > 0 S"),
        (_cells().astype(str), "must be a number or one per cell"),
        ("1.8e-4", "must be a number or one per cell"),
    ],
)
@pytest.mark.parametrize("kind", [WriteAll, ReadStates])
def test_a_per_cell_threshold_not_one_conductance_per_cell_is_refused(kind, thr, said):
    _refused_with_nothing_applied(kind, thr, rf"sequence step 1: .*{said}")


def test_per_cell_thresholds_decide_each_device_by_its_own_levels():
    """On a low-TMR die one threshold misjudges devices whose levels sit on one side of it;
    each device's own midpoint judges every good device as it is."""
    chip = SimulatedChip.from_lot("1t1r-low-tmr", 0, 0)
    die = chip.die
    good = die.defect[0] == 0
    own = 0.5 * (1 / die.r_p[0] + 1 / die.r_ap[0])
    truth = die.state[0].copy()
    by_own, by_die = run_sequence(chip, 0, [ReadStates(threshold=own), ReadStates()])
    assert np.array_equal(by_own[good], truth[good])
    assert (by_die[good] != truth[good]).sum() > 0
    (report,) = run_sequence(chip, 0, [WriteAll(CellState.AP, threshold=own, rounds=6)])
    assert not report.residual[good].any() and not die.state[0][good].any()
