"""Measured arrays resampled: line defects stay whole lines, devices keep their measured pair."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.empirical import MeasuredArrays
from mtj_hil.training.errors import TrainingError


def _die(layout, seed):
    rng = np.random.default_rng(seed)
    g_p = 233e-6 * np.exp(0.1 * rng.standard_normal((32, 25, 25)))
    codes = np.zeros((32, 25, 25), dtype=np.uint8)
    codes[seed % 32, :, 7] = DefectCode.OPEN
    codes[(seed + 1) % 32, 2, :] = DefectCode.SHORT
    return DieModel(layout, g_p, 0.7 * g_p, codes, 0.01)


def test_sampled_dies_keep_whole_lines_and_device_pairs(layout):
    pop = MeasuredArrays.from_dies([_die(layout, 0), _die(layout, 1)])
    assert pop.g_p.shape == (64, 25, 25) and pop.read_noise == pytest.approx(0.01)
    g_p, g_ap, codes = pop.sample(np.random.default_rng(0), 50)
    assert g_p.shape == (50, 32, 25, 25)
    np.testing.assert_allclose(g_ap, 0.7 * g_p)  # a device's P and AP stay together
    opens = codes == DefectCode.OPEN
    shorts = codes == DefectCode.SHORT
    # every open device sits in a column that is open from top to bottom, shorts in whole rows
    assert opens.any() and np.array_equal(opens.any(axis=2), opens.all(axis=2))
    assert shorts.any() and np.array_equal(shorts.any(axis=3), shorts.all(axis=3))
    # ... at permuted places (column 7 is not always the open one)
    assert len(set(np.nonzero(opens.all(axis=2))[-1].tolist())) > 1
    g1, g0 = pop.pool(np.random.default_rng(1), 4)
    assert g1.shape == (4, 32, 25, 25) and np.all(g1 >= g0)


def test_no_dies_refused():
    with pytest.raises(TrainingError):
        MeasuredArrays.from_dies([])
