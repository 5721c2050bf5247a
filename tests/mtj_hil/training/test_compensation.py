"""Data-free digital compensation of a lot-wide network for one die's measured devices."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.training.bnn import BNN, TrainConfig
from mtj_hil.training.compensation import (
    compensated_weights,
    fit_compensation,
    made_ideal,
    network_statistics,
    predict_compensated,
    residual_realisation,
    sparse_compensation,
)
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.mapping import place_defect_aware
from mtj_hil.training.methods import die_realisation, train_defect_aware, train_unaware


@pytest.fixture(scope="module")
def net(digits) -> BNN:
    return train_unaware(digits, (24,), np.random.default_rng(0), TrainConfig(epochs=10)).net


def _signal(net: BNN, real):
    """The die's noise-free signal per layer (weight units)."""
    weights = net.binary_weights()
    return lambda i, a: a @ (real[i][0] + real[i][1] * weights[i])


def _signal_error(net: BNN, X: np.ndarray, real, comp) -> float:
    """Mean squared deviation of the first layer's compensated signal from the ideal one."""
    got = comp.wrap(_signal(net, real))(0, X)
    return float(np.mean((got - X @ net.binary_weights()[0]) ** 2))


def test_statistics_are_the_layers_inputs_and_the_weights_saliency(net, digits):
    stats = network_statistics(net, digits.X_train, digits.y_train)
    np.testing.assert_allclose(stats.means[0], digits.X_train.mean(axis=0))
    np.testing.assert_allclose(stats.covariances[0], np.cov(digits.X_train.T, bias=True))
    assert [s.shape for s in stats.saliency] == [(64, 24), (24, 10)]
    assert all(np.all(s >= 0) for s in stats.saliency)
    # a pixel that is always 0 carries no gradient: its weights are not salient
    blank = digits.X_train.std(axis=0) == 0
    assert blank.any() and np.all(stats.saliency[0][blank] == 0)


def test_full_budget_makes_the_die_exact(net, digits, layout, random_die):
    die = random_die(3, sigma=0.15, stuck=0.04, shorts=0.004)
    placed = place_defect_aware(net.sizes, layout, die.defects)
    real = die_realisation(die, placed)
    stats = network_statistics(net, digits.X_train, digits.y_train)
    comp = fit_compensation(net, real, stats, budget=1.0)
    assert comp.digital_cost() == sum(w.size for w in net.latent) - sum(
        int(np.sum(r[0] + r[1] * w == w)) for r, w in zip(real, net.binary_weights(), strict=True)
    )
    np.testing.assert_array_equal(
        predict_compensated(net, digits.X_test, _signal(net, real), comp),
        net.predict(digits.X_test),
    )
    for s, h in zip(comp.scale, comp.shift, strict=True):
        np.testing.assert_allclose(s[s != 0], 1.0, atol=1e-9)
        np.testing.assert_allclose(h[s != 0], 0.0, atol=1e-9)


def test_the_budget_goes_to_the_costliest_errors(net, digits, layout, random_die):
    """More budget, smaller signal error; the chosen weights beat as many chosen at random."""
    die = random_die(5, sigma=0.15, stuck=0.04, shorts=0.004)
    placed = place_defect_aware(net.sizes, layout, die.defects)
    real = die_realisation(die, placed)
    stats = network_statistics(net, digits.X_train, digits.y_train)
    X = digits.X_train
    errs = [_signal_error(net, X, real, fit_compensation(net, real, stats, b)) for b in (0, 0.1)]
    raw = float(np.mean((_signal(net, real)(0, X) - X @ net.binary_weights()[0]) ** 2))
    assert errs[0] < raw  # scale and shift alone help
    assert errs[1] < 0.7 * errs[0]  # the sparse part helps much more
    comp = fit_compensation(net, real, stats, 0.1)
    assert comp.digital_cost() == round(0.1 * sum(w.size for w in net.latent))
    # the sparse part alone: the chosen weights' errors against as many chosen at random
    e = real[0][0] + real[0][1] * net.binary_weights()[0] - net.binary_weights()[0]
    pick = np.random.default_rng(0).permutation(e.size)[: np.count_nonzero(comp.sparse[0])]
    rand = np.zeros_like(e)
    rand.flat[pick] = -e.flat[pick]
    chosen = float(np.mean((X @ (e + comp.sparse[0])) ** 2))
    assert chosen < 0.8 * float(np.mean((X @ (e + rand)) ** 2))


def test_compensation_recovers_accuracy(net, digits, layout, random_die):
    stats = network_statistics(net, digits.X_train, digits.y_train)
    software = float(np.mean(net.predict(digits.X_test) == digits.y_test))
    lost = {0.0: [], 0.2: []}
    for seed in range(3):
        die = random_die(30 + seed, sigma=0.2, stuck=0.05, shorts=0.002)
        placed = place_defect_aware(net.sizes, layout, die.defects)
        real = die_realisation(die, placed)
        for b, out in lost.items():
            comp = fit_compensation(net, real, stats, b)
            pred = predict_compensated(net, digits.X_test, _signal(net, real), comp)
            out.append(software - float(np.mean(pred == digits.y_test)))
    assert np.mean(lost[0.2]) < np.mean(lost[0.0]) - 0.01


def test_bad_arguments_are_refused(net, digits, layout):
    die = DieModel.ideal(layout)
    real = die_realisation(die, place_defect_aware(net.sizes, layout, die.defects))
    stats = network_statistics(net, digits.X_train, digits.y_train)
    with pytest.raises(TrainingError):
        fit_compensation(net, real, stats, budget=1.5)
    with pytest.raises(TrainingError):
        fit_compensation(net, real[:1], stats)
    with pytest.raises(TrainingError):
        network_statistics(net, digits.X_train[:, :5], digits.y_train)
    with pytest.raises(TrainingError):
        network_statistics(net, digits.X_train, digits.y_train[:-1])


def test_the_residual_makes_the_compensated_weights_ideal(net, digits, layout, random_die):
    die = random_die(7, sigma=0.15, stuck=0.04, shorts=0.004)
    real = die_realisation(die, place_defect_aware(net.sizes, layout, die.defects))
    stats = network_statistics(net, digits.X_train, digits.y_train)
    chosen = compensated_weights(net, real, stats, 0.1)
    assert sum(int(c.sum()) for c in chosen) == round(0.1 * sum(w.size for w in net.latent))
    left = residual_realisation(net, real, stats, 0.1)
    for (off, sl), (o2, s2), pick in zip(real, left, chosen, strict=True):
        np.testing.assert_array_equal(o2[pick], 0.0)
        np.testing.assert_array_equal(s2[pick], 1.0)
        np.testing.assert_array_equal(o2[~pick], off[~pick])
        np.testing.assert_array_equal(s2[~pick], sl[~pick])
    # what is left costs less than the die: the costliest errors were taken
    w = net.binary_weights()

    def cost(r) -> float:
        layers = zip(r, w, stats.saliency, strict=True)
        return sum(float(np.sum(f * (o + s * b - b) ** 2)) for (o, s), b, f in layers)

    assert cost(left) < 0.5 * cost(real)


def test_the_pool_trains_against_what_the_adjustment_leaves(digits, layout):
    """``adjust`` replaces every sampled, placed die's realisation (here by ideal devices)."""
    from mtj_hil.training.die_model import PopulationModel
    from mtj_hil.training.mapping import place
    from mtj_hil.training.methods import realisation_pool

    sizes = [digits.n_features, 16, digits.n_classes]
    pop = PopulationModel.nominal(layout, 0.1)
    plain = place(sizes, layout)

    def placer(codes):
        return place_defect_aware(sizes, layout, codes)

    def ideal(real):
        return [(np.zeros_like(o), np.ones_like(s)) for o, s in real]

    raw = realisation_pool(pop, plain, np.random.default_rng(0), 3, placer)
    fixed = realisation_pool(pop, plain, np.random.default_rng(0), 3, placer, adjust=ideal)
    assert np.abs(raw[0][0]).max() > 0.05
    for off, sl in fixed:
        np.testing.assert_array_equal(off, 0.0)
        np.testing.assert_array_equal(sl, 1.0)


def test_a_given_pool_trains_as_the_drawn_one(digits, layout):
    """Two trainings can share one pool: given the pool drawn from the same generator, the
    network is the one drawing it would have given; a pool of the wrong size is refused."""
    from mtj_hil.training.die_model import PopulationModel
    from mtj_hil.training.mapping import place
    from mtj_hil.training.methods import adjust_pool, realisation_pool, train_statistics_aware

    sizes = [digits.n_features, 8, digits.n_classes]
    pop = PopulationModel.nominal(layout, 0.1)
    plain = place(sizes, layout)
    cfg = TrainConfig(epochs=1)
    start = BNN.create(sizes, np.random.default_rng(3))  # (a fresh net would draw first)
    drawn = train_statistics_aware(
        digits, (8,), pop, plain, np.random.default_rng(4), cfg, pool_size=6, init=start
    ).net
    rng = np.random.default_rng(4)
    pool = realisation_pool(pop, plain, rng, 6)
    given = train_statistics_aware(
        digits, (8,), pop, plain, rng, cfg, pool_size=6, init=start, pool=pool
    )
    for a, b in zip(drawn.latent, given.net.latent, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(TrainingError, match="given pool"):
        train_statistics_aware(digits, (8,), pop, plain, rng, cfg, pool_size=7, pool=pool)
    ideal = adjust_pool(pool, lambda real: [(0 * o, 0 * s + 1) for o, s in real])
    assert [o.shape for o, _ in ideal] == [o.shape for o, _ in pool]
    assert all(np.all(o == 0) and np.all(s == 1) for o, s in ideal)


def test_a_network_fine_tuned_for_the_compensation_meets_it_on_the_die(
    net, digits, layout, random_die
):
    """Defect-aware fine-tuning through what the compensation leaves
    (:func:`made_ideal`), deployed with :func:`sparse_compensation`: the die's compensated
    signal is the signal the network was trained through, and on a hard die it beats the
    same fine-tuning without the compensation."""
    die = random_die(11, sigma=0.3, stuck=0.06, shorts=0.006)
    placed = place_defect_aware(net.sizes, layout, die.defects)
    real = die_realisation(die, placed)
    stats = network_statistics(net, digits.X_train, digits.y_train)
    chosen = compensated_weights(net, real, stats, 0.2)
    trained_through = made_ideal(real, chosen)
    cfg = TrainConfig(epochs=6, lr=0.02)

    def tuned(realisation):
        return train_defect_aware(
            digits,
            (24,),
            die,
            placed,
            np.random.default_rng(5),
            cfg,
            init=net,
            freeze_defective=False,
            select=True,
            realisation=realisation,
        ).net

    with_comp, alone = tuned(trained_through), tuned(None)
    comp = sparse_compensation(with_comp, real, chosen)
    assert comp.digital_cost() <= round(0.2 * sum(w.size for w in net.latent))
    np.testing.assert_array_equal(comp.scale[0], 1.0)
    on_die = comp.wrap(_signal(with_comp, real))
    meant = _signal(with_comp, trained_through)
    a = [digits.X_test, np.tanh(digits.X_test @ with_comp.binary_weights()[0])]
    for layer in (0, 1):
        np.testing.assert_allclose(on_die(layer, a[layer]), meant(layer, a[layer]), atol=1e-9)

    def error(n, signal, c=None) -> float:
        pred = (
            predict_compensated(n, digits.X_test, signal, c)
            if c is not None
            else np.argmax(n.forward_signals(digits.X_test, signal), axis=1)
        )
        return float(np.mean(pred != digits.y_test))

    assert error(with_comp, _signal(with_comp, real), comp) < error(alone, _signal(alone, real))


def test_a_sparse_compensation_that_does_not_fit_is_refused(net, layout):
    die = DieModel.ideal(layout)
    real = die_realisation(die, place_defect_aware(net.sizes, layout, die.defects))
    masks = [np.zeros(w.shape, bool) for w in net.latent]
    with pytest.raises(TrainingError, match="do not fit"):
        sparse_compensation(net, real[:1], masks)
    with pytest.raises(TrainingError, match="mask is not"):
        sparse_compensation(net, real, [masks[0].T, masks[1]])
