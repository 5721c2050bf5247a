"""Bad requests are refused by the chip before anything reaches a device."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.instruments.errors import SafetyViolation
from mtj_hil.protocols.chip import CellState, Chip, Pulse
from mtj_hil.protocols.errors import InvalidRequest


def _untouched(chip, action):
    state, defect = chip.die.state.copy(), chip.die.defect.copy()
    action()
    np.testing.assert_array_equal(chip.die.state, state)
    np.testing.assert_array_equal(chip.die.defect, defect)


def test_simulated_chip_is_a_chip(chip):
    assert isinstance(chip, Chip)
    assert chip.layout.n_devices == 20_000
    assert chip.describe()["profile"]["name"] == "1t1r-20k"


@pytest.mark.parametrize(
    ("array", "cells", "match"),
    [
        (32, np.ones((25, 25), bool), "array 32 is not on this die; allowed 0..31"),
        (-1, np.ones((25, 25), bool), "not on this die"),
        (True, np.ones((25, 25), bool), "integer"),
        (0, np.ones((24, 25), bool), r"shape \(24, 25\); expected \(25, 25\)"),
        (0, np.array([[0, 25]]), "outside the array"),
        (0, np.array([0.5, 1.5]), "dtype float64"),
        (0, np.array([1, 2, 3]), r"expected \(n, 2\)"),
    ],
)
def test_program_rejects_bad_addresses(chip, array, cells, match):
    def act():
        with pytest.raises(InvalidRequest, match=match):
            chip.program(array, cells, CellState.P, chip.layout.nominal_pulse)

    _untouched(chip, act)


def test_program_accepts_index_lists(chip):
    chip.die.state[0][:] = False
    chip.program(0, np.array([[1, 2], [3, 4]]), CellState.P, Pulse(1.1, 1e-5))
    flipped = np.argwhere(chip.die.state[0])
    assert {tuple(x) for x in flipped} <= {(1, 2), (3, 4)}


@pytest.mark.parametrize(
    ("voltages", "error", "match"),
    [
        (np.zeros((4, 24)), InvalidRequest, r"expected \(batch, 25\)"),
        (np.zeros((2, 3, 25)), InvalidRequest, "expected"),
        (np.array([["a"] * 25]), InvalidRequest, "dtype"),
        (np.zeros((1, 25), dtype=bool), InvalidRequest, "dtype"),
        (np.full((1, 25), np.nan), InvalidRequest, "NaN"),
        (np.full((1, 25), -0.5), SafetyViolation, "0.5 V exceeds the safe limit of 0.3 V"),
    ],
)
def test_read_rejects_bad_voltages(chip, voltages, error, match):
    with pytest.raises(error, match=match):
        chip.read(0, voltages)


def test_read_accepts_one_vector_and_integers(chip):
    assert chip.read(0, np.zeros(25)).shape == (1, 25)
    assert chip.read(0, np.zeros((3, 25), dtype=int)).shape == (3, 25)


def test_closed_chip_refuses_work(chip):
    with chip:
        pass
    with pytest.raises(InvalidRequest, match="closed"):
        chip.read(0, np.zeros(25))
