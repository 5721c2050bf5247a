"""Devices the characterisation could not settle (UNCERTAIN) in training: modelled with their
measured conductances, avoided by defect-aware training."""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols.defects.detect import DefectCode as D
from mtj_hil.training.die_model import DieModel, PopulationModel
from mtj_hil.training.mapping import place
from mtj_hil.training.methods import defect_masks


def test_uncertain_device_follows_its_bit_but_is_masked(layout):
    die = DieModel.ideal(layout)
    die.defects[0, 0, 0] = D.UNCERTAIN
    die.g_p[0, 0, 0], die.g_ap[0, 0, 0] = 3e-4, 1.5e-4
    ones = np.ones(die.g_p.shape, np.uint8)
    assert die.conductance(ones)[0, 0, 0] == 3e-4
    assert die.conductance(0 * ones)[0, 0, 0] == 1.5e-4
    p = place([25, 12], layout)
    masks = defect_masks(die, p)
    di = p.index(0)
    on_pair = (di.array == 0) & (di.row == 0) & ((di.plus == 0) | (di.minus == 0))
    assert on_pair.any() and (masks[0][on_pair] == 0).all()
    assert masks[0].sum() == masks[0].size - on_pair.sum()
    assert die.counts()["UNCERTAIN"] == 1


def test_population_fit_ignores_uncertain_devices(layout):
    die = DieModel.ideal(layout)
    die.defects[1, :, :] = D.UNCERTAIN
    die.g_p[1] = 1e-3  # whatever they read must not move the good-device statistics
    model = PopulationModel.fit([die])
    assert np.isclose(model.g_p_median, layout.nominal_g_p)
    assert all(rate == 0 for rate in model.defect_rates.values())
