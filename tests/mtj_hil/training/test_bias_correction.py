"""Data-free bias correction of a lot-wide network for one die's measured devices."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.training.bias_correction import correct_biases, input_means
from mtj_hil.training.bnn import BNN, TrainConfig
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.evaluation import evaluate_emulated
from mtj_hil.training.mapping import place_defect_aware
from mtj_hil.training.methods import die_realisation, train_unaware


def _pre(net: BNN, X: np.ndarray, real) -> np.ndarray:
    """First layer's pre-activations, ``(batch, n_out)``."""
    w = net.binary_weights()[0]
    eff = w if real is None else real[0][0] + real[0][1] * w
    return net.gains[0] * (X @ eff) + net.biases[0]


@pytest.fixture(scope="module")
def net(digits) -> BNN:
    return train_unaware(digits, (24,), np.random.default_rng(0), TrainConfig(epochs=10)).net


def test_input_means_are_the_layers_mean_inputs(net, digits):
    means = input_means(net, digits.X_train)
    assert [m.shape for m in means] == [(64,), (24,)]
    np.testing.assert_allclose(means[0], digits.X_train.mean(axis=0))
    hidden = np.tanh(_pre(net, digits.X_train, None))
    np.testing.assert_allclose(means[1], hidden.mean(axis=0))


def test_the_die_no_longer_shifts_the_mean_pre_activation(net, digits, layout, random_die):
    die = random_die(3, sigma=0.08, stuck=0.04, shorts=0.004)
    placed = place_defect_aware(net.sizes, layout, die.defects)
    real = die_realisation(die, placed)
    fixed = correct_biases(net, die, placed, input_means(net, digits.X_train))
    slope = real[0][1]
    m = float(np.median(slope[slope > 0]))
    # the target: what the net does on the die's typical devices (every weight m w)
    target = (m * (_pre(net, digits.X_train, None) - net.biases[0]) + net.biases[0]).mean(0)
    before = _pre(net, digits.X_train, real).mean(0)
    after = _pre(fixed, digits.X_train, real).mean(0)
    assert np.abs(before - target).max() > 0.05  # the die does shift it
    np.testing.assert_allclose(after, target, atol=1e-9)
    for a, b in zip(fixed.binary_weights(), net.binary_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # nothing to reprogram
    assert fixed is not net and not np.array_equal(fixed.biases[0], net.biases[0])


def test_an_ideal_die_changes_nothing(net, digits, layout):
    die = DieModel.ideal(layout)
    placed = place_defect_aware(net.sizes, layout, die.defects)
    fixed = correct_biases(net, die, placed, input_means(net, digits.X_train))
    for a, b in zip(fixed.biases, net.biases, strict=True):
        np.testing.assert_allclose(a, b, atol=1e-12)


def test_the_correction_recovers_accuracy_on_shifted_dies(net, digits, layout, random_die):
    """Pairs whose devices read high or low shift neurons; the correction takes it back."""
    means = input_means(net, digits.X_train)
    lost, lost_fixed = [], []
    software = float(np.mean(net.predict(digits.X_test) == digits.y_test))
    for seed in range(3):
        die = random_die(20 + seed, sigma=0.15, stuck=0.08, shorts=0.0)
        placed = place_defect_aware(net.sizes, layout, die.defects)
        fixed = correct_biases(net, die, placed, means)
        for n, out in ((net, lost), (fixed, lost_fixed)):
            out.append(software - evaluate_emulated(n, digits.X_test, digits.y_test, die, placed))
    assert np.mean(lost) > 0.02
    assert np.mean(lost_fixed) < np.mean(lost)


def test_bad_arguments_are_refused(net, digits, layout):
    die = DieModel.ideal(layout)
    placed = place_defect_aware(net.sizes, layout, die.defects)
    means = input_means(net, digits.X_train)
    with pytest.raises(TrainingError, match="input means"):
        correct_biases(net, die, placed, means[:1])
    with pytest.raises(TrainingError, match="input means"):
        correct_biases(net, die, placed, [means[0][:10], means[1]])
    with pytest.raises(TrainingError, match="inputs"):
        input_means(net, digits.X_train[:, :10])
    other = place_defect_aware([64, 12, 10], layout, die.defects)
    with pytest.raises(TrainingError, match="placement"):
        correct_biases(net, die, other, means)
