"""Weight-aware routing of a trained network onto a die's measured devices."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest

from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.training.bnn import BNN
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.mapping import effective_weights, place_defect_aware, target_bits
from mtj_hil.training.matching import (
    input_importance,
    layer_errors,
    match_weights,
    routing_cost,
)

SIZES = [100, 64, 10]


def _weights(seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [
        np.where(rng.random((a, b)) < 0.5, 1.0, -1.0)
        for a, b in zip(SIZES[:-1], SIZES[1:], strict=True)
    ]


def _broken(placement, weights, die) -> int:
    """Weights the die realises more than half a unit off."""
    bits, _ = target_bits(placement, weights)
    eff = effective_weights(placement, die.conductance(bits))
    return int(sum(np.sum(np.abs(e - w) > 0.5) for e, w in zip(eff, weights, strict=True)))


def test_routing_puts_stuck_devices_under_their_own_weight(layout, random_die):
    die, weights = random_die(1), _weights(2)
    importance = [np.ones(n) for n in SIZES[:-1]]
    placed = place_defect_aware(SIZES, layout, die.defects)
    routed = match_weights(placed, weights, die, importance)
    before, after = _broken(placed, weights, die), _broken(routed, weights, die)
    # about 3 % stuck devices: half of them break their weight on a weight-blind placement
    assert before > 150
    assert after < 0.25 * before
    for lp, rp in zip(placed.layers, routed.layers, strict=True):
        assert rp.tiles == lp.tiles  # the same arrays and tiles, only the routing changed
        assert np.unique(rp.in_rows).size == rp.n_in
        assert np.unique(rp.out_slots).size == rp.n_out


def test_routing_never_raises_the_cost_and_leaves_a_clean_die_alone(layout, random_die):
    weights = _weights(3)
    importance = [np.linspace(0.1, 2.0, n) for n in SIZES[:-1]]
    ideal = DieModel.ideal(layout)
    placed = place_defect_aware(SIZES, layout, ideal.defects)
    routed = match_weights(placed, weights, ideal, importance)
    for lp, rp in zip(placed.layers, routed.layers, strict=True):
        np.testing.assert_array_equal(rp.in_rows, lp.in_rows)
        np.testing.assert_array_equal(rp.out_slots, lp.out_slots)
    die = random_die(4)
    placed = place_defect_aware(SIZES, layout, die.defects)
    routed = match_weights(placed, weights, die, importance)
    for li, (ep, em) in enumerate(layer_errors(placed, die)):
        pos = weights[li] >= 0
        a = placed.layers[li]
        b = routed.layers[li]
        before = routing_cost(pos, importance[li], ep, em, a.in_rows, a.out_slots)
        after = routing_cost(pos, importance[li], ep, em, b.in_rows, b.out_slots)
        assert after <= before
        assert after < 0.5 * before


def test_important_inputs_get_the_clean_rows(layout, random_die):
    """Two inputs on rows that are all shorts: the one the data barely uses takes them."""
    die = random_die(5, stuck=0.0, shorts=0.0)
    weights = _weights(6)
    placed = place_defect_aware(SIZES, layout, die.defects)
    codes = die.defects.copy()
    g_p = die.g_p.copy()
    idx = placed.index(0)
    bad_row = (idx.array[7], idx.row[7])  # input 7's devices on its first column tile
    codes[bad_row[0], bad_row[1], :] = DefectCode.SHORT
    g_p[bad_row[0], bad_row[1], :] = 6e-4
    shorted = replace(die, g_p=g_p, defects=codes)
    importance = [np.ones(SIZES[0]), np.ones(SIZES[1])]
    importance[0][7] = 50.0
    importance[0][3] = 1e-4
    routed = match_weights(placed, weights, shorted, importance)
    r = routed.index(0)
    on_bad = (r.array == bad_row[0]) & (r.row == bad_row[1])
    assert not on_bad[7].any()
    assert on_bad[3].any()


def test_input_importance_are_the_layers_mean_square_inputs():
    rng = np.random.default_rng(0)
    net = BNN.create([6, 5, 3], rng)
    X = rng.random((40, 6))
    moments = input_importance(net, X)
    np.testing.assert_allclose(moments[0], (X**2).mean(axis=0))
    hidden = np.tanh(net.gains[0] * (X @ net.binary_weights()[0]) + net.biases[0])
    np.testing.assert_allclose(moments[1], (hidden**2).mean(axis=0))


def test_bad_arguments_are_refused(layout, random_die):
    die, weights = random_die(7), _weights(8)
    placed = place_defect_aware(SIZES, layout, die.defects)
    importance = [np.ones(n) for n in SIZES[:-1]]
    with pytest.raises(TrainingError, match="layer 0"):
        match_weights(placed, [weights[0].T, weights[1]], die, importance)
    with pytest.raises(TrainingError, match="1 weight matrices"):
        match_weights(placed, weights[:1], die, importance)
    other = replace(layout, n_arrays=31)
    small = DieModel.ideal(other)
    with pytest.raises(TrainingError, match="layouts"):
        match_weights(placed, weights, small, importance)


def test_a_routed_network_loses_less_accuracy_on_a_stuck_die(layout, digits, random_die):
    """The user's figure: the same trained network, the same die, no retraining."""
    from mtj_hil.training.bnn import TrainConfig
    from mtj_hil.training.evaluation import evaluate_emulated
    from mtj_hil.training.methods import train_unaware

    net = train_unaware(digits, (24,), np.random.default_rng(0), TrainConfig(epochs=15)).net
    sizes = net.sizes
    software = float(np.mean(net.predict(digits.X_test) == digits.y_test))
    lost_placed, lost_routed = [], []
    for seed in range(3):
        die = random_die(10 + seed, stuck=0.10, shorts=0.0)
        placed = place_defect_aware(sizes, layout, die.defects, (digits.X_train**2).mean(0))
        routed = match_weights(
            placed, net.binary_weights(), die, input_importance(net, digits.X_train)
        )
        for pl, lost in ((placed, lost_placed), (routed, lost_routed)):
            lost.append(software - evaluate_emulated(net, digits.X_test, digits.y_test, die, pl))
    assert np.mean(lost_placed) > 0.02
    assert np.mean(lost_routed) < 0.5 * np.mean(lost_placed)


def test_every_lea_copy_is_routed(layout, random_die):
    from mtj_hil.training.ensemble import place_ensemble
    from mtj_hil.training.matching import match_ensemble

    die, weights = random_die(12), _weights(13)
    importance = [np.ones(n) for n in SIZES[:-1]]
    blind = place_ensemble(SIZES, layout, [1, 2], die.defects)
    routed = match_ensemble(blind, weights, die, importance)
    assert routed.n_copies == [1, 2]
    expanded = blind.expand(weights)
    before = _broken(blind.flat, expanded, die)
    after = _broken(routed.flat, expanded, die)
    assert after < 0.25 * before


def test_statistics_aware_training_routes_every_die_it_samples(layout, digits):
    from mtj_hil.training.bnn import TrainConfig
    from mtj_hil.training.die_model import PopulationModel
    from mtj_hil.training.mapping import place
    from mtj_hil.training.methods import realisation_pool, train_statistics_aware

    sizes = [digits.n_features, 16, digits.n_classes]
    pop = PopulationModel.nominal(layout, defect_rates={DefectCode.STUCK_P: 0.05})
    net = BNN.create(sizes, np.random.default_rng(1))
    moments = input_importance(net, digits.X_train)
    calls = []

    def router(placed, die):
        calls.append(die.defects.copy())
        return match_weights(placed, net.binary_weights(), die, moments)

    def placer(codes):
        return place_defect_aware(sizes, layout, codes)

    plain = place(sizes, layout)
    train_statistics_aware(
        digits,
        (16,),
        pop,
        plain,
        np.random.default_rng(0),
        TrainConfig(epochs=1),
        pool_size=6,
        init=net,
        placer=placer,
        select=2,
        router=router,
    )
    assert len(calls) == 6 + 2  # every training and selection die, once
    # routed realisations carry fewer broken weights than the weight-blind ones
    blind = realisation_pool(pop, plain, np.random.default_rng(5), 4, placer)
    routed = realisation_pool(pop, plain, np.random.default_rng(5), 4, placer, router)
    w = net.binary_weights()[0]

    def broken(stack):
        off, sl = stack[0]
        return int(np.sum(np.abs(off + sl * w - w) > 0.5))

    assert broken(routed) < 0.5 * broken(blind)
