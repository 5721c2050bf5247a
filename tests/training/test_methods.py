"""Training methods and evaluations on emulated dies."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.training.bnn import TrainConfig
from mtj_hil.training.die_model import DieModel, PopulationModel
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.mapping import place, target_bits
from mtj_hil.training.methods import (
    crossbar_layer_currents,
    defect_masks,
    die_realisation,
    emulated_read,
    evaluate_emulated,
    evaluate_software,
    forward_currents,
    realisation_pool,
    train_defect_aware,
    train_statistics_aware,
    train_unaware,
)
from protocols.defects import DefectCode

CFG = TrainConfig(epochs=15)


@pytest.fixture(scope="module")
def unaware(digits):
    return train_unaware(digits, [32], np.random.default_rng(1), CFG).net


def test_ideal_emulation_equals_software_exactly(digits, unaware, layout):
    p = place(unaware.sizes, layout)
    die = DieModel.ideal(layout)
    assert evaluate_emulated(unaware, digits.X_test, digits.y_test, die, p) == evaluate_software(
        unaware, digits.X_test, digits.y_test
    )
    np.testing.assert_array_equal(
        unaware.forward(digits.X_test, die_realisation(die, p)), unaware.forward(digits.X_test)
    )


def test_array_read_path_matches_software(digits, unaware, layout):
    """The chip-in-the-loop seam: per-array reads, pair differences, digital partial sums."""
    p = place(unaware.sizes, layout)
    bits, _ = target_bits(p, unaware.binary_weights())
    currents = crossbar_layer_currents(p, emulated_read(DieModel.ideal(layout), bits, None))
    logits = forward_currents(unaware, digits.X_test, currents, p)
    np.testing.assert_allclose(logits, unaware.forward(digits.X_test), rtol=1e-9, atol=1e-9)


def test_read_noise_degrades_gracefully(digits, unaware, layout):
    p = place(unaware.sizes, layout)
    sw = evaluate_software(unaware, digits.X_test, digits.y_test)
    noisy = DieModel.ideal(layout, read_noise=0.02)
    acc = evaluate_emulated(
        unaware, digits.X_test, digits.y_test, noisy, p, noise=True, rng=np.random.default_rng(0)
    )
    assert sw - 0.05 < acc <= sw + 0.02
    with pytest.raises(TrainingError):
        evaluate_emulated(unaware, digits.X_test, digits.y_test, noisy, p, noise=True)


def _shorted_die(layout, rng, rate=0.005, g_short=2e-3):
    shape = (layout.n_arrays, layout.rows, layout.cols)
    g_p = layout.nominal_g_p * np.exp(0.05 * rng.standard_normal(shape))
    g_ap = layout.nominal_g_ap * np.exp(0.05 * rng.standard_normal(shape))
    codes = np.where(rng.random(shape) < rate, DefectCode.SHORT, DefectCode.GOOD).astype(np.uint8)
    g_p = np.where(codes == DefectCode.SHORT, g_short, g_p)
    return DieModel(layout, g_p, g_ap, codes)


def test_defect_aware_beats_unaware_on_shorted_die(digits, unaware, layout):
    p = place(unaware.sizes, layout)
    die = _shorted_die(layout, np.random.default_rng(7))
    acc_unaware = evaluate_emulated(unaware, digits.X_test, digits.y_test, die, p)
    aware = train_defect_aware(digits, [32], die, p, np.random.default_rng(1), CFG).net
    acc_aware = evaluate_emulated(aware, digits.X_test, digits.y_test, die, p)
    sw = evaluate_software(unaware, digits.X_test, digits.y_test)
    assert acc_aware > acc_unaware + 0.1
    assert acc_aware > sw - 0.06


def test_defect_aware_freezes_weights_on_defective_pairs(digits, unaware, layout):
    p = place(unaware.sizes, layout)
    die = _shorted_die(layout, np.random.default_rng(8))
    aware = train_defect_aware(
        digits, [32], die, p, np.random.default_rng(2), TrainConfig(epochs=2), init=unaware
    ).net
    for before, after, mask in zip(unaware.latent, aware.latent, defect_masks(die, p), strict=True):
        assert mask.min() == 0.0
        np.testing.assert_array_equal(after[mask == 0], before[mask == 0])


def test_statistics_aware_trains_and_is_robust(digits, unaware, layout):
    p = place(unaware.sizes, layout)
    pop = PopulationModel.nominal(
        layout, defect_rates={DefectCode.SHORT: 0.003}, short_median=0.5e-3
    )
    pool = realisation_pool(pop, p, np.random.default_rng(0), 5)
    assert pool[0][0].shape == (5, 64, 32) and pool[1][1].shape == (5, 32, 10)
    stat = train_statistics_aware(
        digits, [32], pop, p, np.random.default_rng(1), CFG, pool_size=16
    ).net
    dies = [pop.sample_die(np.random.default_rng(100 + k)) for k in range(4)]
    acc_stat = np.mean([evaluate_emulated(stat, digits.X_test, digits.y_test, d, p) for d in dies])
    acc_un = np.mean([evaluate_emulated(unaware, digits.X_test, digits.y_test, d, p) for d in dies])
    assert acc_stat > 0.85
    assert acc_stat > acc_un - 0.04  # no worse than unaware beyond die-sampling noise


def test_mismatches_raise(digits, unaware, layout):
    with pytest.raises(TrainingError, match="placement"):
        train_defect_aware(
            digits,
            [32],
            DieModel.ideal(layout),
            place([64, 16, 10], layout),
            np.random.default_rng(0),
            CFG,
        )
