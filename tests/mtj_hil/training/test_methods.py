"""Training methods and evaluations on emulated dies."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.training.bnn import TrainConfig, fit
from mtj_hil.training.die_model import DieModel, PopulationModel
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.evaluation import (
    crossbar_layer_currents,
    emulated_read,
    evaluate_emulated,
    evaluate_software,
    forward_currents,
    predict_emulated,
)
from mtj_hil.training.mapping import place, place_defect_aware, target_bits
from mtj_hil.training.methods import (
    SCORE_ROWS,
    defect_masks,
    die_realisation,
    mean_loss,
    realisation_pool,
    score_rows,
    train_defect_aware,
    train_statistics_aware,
    train_unaware,
)

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


def _shorts_population(layout, rate=0.005, g_short=2e-3):
    return PopulationModel.nominal(
        layout,
        defect_rates={DefectCode.SHORT: rate, DefectCode.STUCK_P: 0.002},
        rate_spread=0.5,
        short_median=g_short,
        short_sigma=0.2,
    )


def _placer(digits, sizes, layout):
    importance = (digits.X_train**2).mean(axis=0)
    return lambda codes: place_defect_aware(sizes, layout, codes, importance)


def test_pool_sampled_with_the_placement_keeps_shorts_off_the_output_layer(digits, layout):
    sizes = [64, 32, 10]
    p = place(sizes, layout)
    pop = _shorts_population(layout)
    plain = realisation_pool(pop, p, np.random.default_rng(0), 12)
    placed = realisation_pool(pop, p, np.random.default_rng(0), 12, _placer(digits, sizes, layout))
    assert placed[1][0].shape == plain[1][0].shape == (12, 32, 10)
    # a shorted pair shows an offset of several weight units
    n_plain = np.count_nonzero(np.abs(plain[1][0]) > 2)
    assert n_plain > 12
    assert np.count_nonzero(np.abs(placed[1][0]) > 2) < n_plain / 5


def test_statistics_aware_beats_unaware_on_dies_with_shorts(digits, unaware, layout):
    """The deployed recipe: one network trained from the software one through realisations
    placed like each die, deployed with each die's defect-aware placement."""
    sizes = unaware.sizes
    p = place(sizes, layout)
    placer = _placer(digits, sizes, layout)
    pop = _shorts_population(layout)
    stat = train_statistics_aware(
        digits,
        [32],
        pop,
        p,
        np.random.default_rng(3),
        TrainConfig(epochs=5, lr=0.003, lr_final=1e-4),
        pool_size=16,
        init=unaware,
        placer=placer,
        select=4,
    ).net
    sw = evaluate_software(unaware, digits.X_test, digits.y_test)
    dies = [pop.sample_die(np.random.default_rng(300 + k)) for k in range(4)]
    X, y = digits.X_test, digits.y_test
    acc_un = np.mean([evaluate_emulated(unaware, X, y, d, p) for d in dies])
    acc_stat = np.mean([evaluate_emulated(stat, X, y, d, placer(d.defects)) for d in dies])
    assert acc_stat > acc_un + 0.1
    assert acc_stat > sw - 0.03


def test_fit_score_keeps_the_best_snapshot(digits):
    from mtj_hil.training.bnn import BNN

    net = BNN.create([64, 16, 10], np.random.default_rng(0))
    start = net.copy()
    calls = []

    def score(n):  # the starting network scores best, every later epoch worse
        calls.append(1)
        return float(len(calls))

    hist = fit(
        net,
        digits.X_train,
        digits.y_train,
        TrainConfig(epochs=3),
        np.random.default_rng(1),
        score=score,
    )
    assert len(calls) == 4 and hist.score == [2.0, 3.0, 4.0] and hist.best_score == 1.0
    for a, b in zip(net.latent + net.biases, start.latent + start.biases, strict=True):
        np.testing.assert_array_equal(a, b)
    assert net.gains == start.gains


def test_defect_aware_selection_never_loses_training_loss(digits, unaware, layout):
    """The fine-tuning keeps the snapshot with the lowest loss over every training row
    through the die (not :func:`score_rows`' subset, which chose worse networks)."""
    p = place(unaware.sizes, layout)
    die = _shorted_die(layout, np.random.default_rng(9))
    real = die_realisation(die, p)
    assert digits.X_train.shape[0] > SCORE_ROWS  # else every row is the subset too
    assert score_rows(digits.X_train, digits.y_train)[0].shape[0] == SCORE_ROWS
    rows = (digits.X_train, digits.y_train)
    before = mean_loss(unaware, *rows, [real])
    res = train_defect_aware(
        digits,
        [32],
        die,
        p,
        np.random.default_rng(4),
        TrainConfig(epochs=3, lr=0.003),
        init=unaware,
        freeze_defective=False,
        select=True,
    )
    after = mean_loss(res.net, *rows, [real])
    assert after <= before and after == pytest.approx(res.history.best_score)


def test_predict_emulated_agrees_with_accuracy(digits, unaware, layout):
    p = place(unaware.sizes, layout)
    die = _shorted_die(layout, np.random.default_rng(7))
    pred = predict_emulated(unaware, digits.X_test, die, p)
    assert pred.shape == digits.y_test.shape
    acc = evaluate_emulated(unaware, digits.X_test, digits.y_test, die, p)
    assert np.mean(pred == digits.y_test) == acc


def test_defect_aware_trains_through_a_given_realisation(digits, unaware, layout):
    """``realisation`` replaces the die's measured one: the die's own gives the same network
    as none; another gives another; one of the wrong shape or with input sharing is refused."""
    from mtj_hil.training.sharing import share_inputs

    p = place(unaware.sizes, layout)
    die = _shorted_die(layout, np.random.default_rng(9))
    cfg = TrainConfig(epochs=2)

    def tuned(**kw):
        return train_defect_aware(
            digits, [32], die, p, np.random.default_rng(4), cfg, init=unaware, **kw
        ).net

    own = die_realisation(die, p)
    same, plain = tuned(realisation=own), tuned()
    for a, b in zip(same.latent, plain.latent, strict=True):
        np.testing.assert_array_equal(a, b)
    ideal = [(np.zeros_like(o), np.ones_like(s)) for o, s in own]
    other = tuned(realisation=ideal)
    assert any(not np.array_equal(a, b) for a, b in zip(other.latent, plain.latent, strict=True))
    with pytest.raises(TrainingError, match="does not fit"):
        tuned(realisation=own[:1])
    with pytest.raises(TrainingError, match="input sharing"):
        tuned(
            realisation=own,
            freeze_defective=False,
            sharing=share_inputs((digits.X_train**2).mean(0), 4),
        )


def test_evaluation_names_still_import_from_methods():
    """Scripts written before training.evaluation existed keep importing from methods."""
    from mtj_hil.training import evaluation, methods

    for name in ("predict_emulated", "forward_currents", "V_READ", "LayerCurrents"):
        assert getattr(methods, name) is getattr(evaluation, name)
    with pytest.raises(AttributeError, match="no attribute 'not_there'"):
        _ = methods.not_there
