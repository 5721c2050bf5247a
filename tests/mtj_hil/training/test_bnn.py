"""Binary network: straight-through gradients and real training."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.training.bnn import BNN, TrainConfig, fit
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.evaluation import evaluate_software
from mtj_hil.training.methods import train_unaware


@pytest.mark.parametrize("activation", ["tanh", "sign"])
def test_ste_gradient_shapes(activation):
    rng = np.random.default_rng(0)
    net = BNN.create([7, 5, 4, 3], rng, activation)
    X = rng.random((11, 7))
    y = rng.integers(0, 3, 11)
    loss, g_lat, g_b, g_gain = net.gradients(X, y)
    assert np.isfinite(loss) and loss > 0
    assert [g.shape for g in g_lat] == [w.shape for w in net.latent]
    assert [g.shape for g in g_b] == [b.shape for b in net.biases]
    assert g_gain.shape == (3,)


def test_bias_gradient_matches_finite_difference():
    rng = np.random.default_rng(1)
    net = BNN.create([6, 5, 3], rng, "tanh")
    net.biases = [rng.normal(size=b.shape) for b in net.biases]
    X, y = rng.random((9, 6)), rng.integers(0, 3, 9)
    _, _, g_b, g_gain = net.gradients(X, y)
    eps = 1e-6
    for layer in range(2):
        for j in range(net.biases[layer].size):
            net.biases[layer][j] += eps
            up = net.gradients(X, y)[0]
            net.biases[layer][j] -= 2 * eps
            down = net.gradients(X, y)[0]
            net.biases[layer][j] += eps
            assert (up - down) / (2 * eps) == pytest.approx(g_b[layer][j], abs=1e-6)
    net.gains[1] += eps
    up = net.gradients(X, y)[0]
    net.gains[1] -= 2 * eps
    down = net.gradients(X, y)[0]
    assert (up - down) / (2 * eps) == pytest.approx(g_gain[1], abs=1e-6)


def test_ste_passes_gradient_only_inside_clip_and_scales_by_slope():
    rng = np.random.default_rng(2)
    net = BNN.create([4, 3], rng)
    net.latent[0][0, 0] = 1.5  # outside the clip window: no gradient
    X, y = rng.random((5, 4)), rng.integers(0, 3, 5)
    # half the weight from the slope, half from the offset: same forward, half the gradient
    w = net.binary_weights()[0]
    _, g_ideal, _, _ = net.gradients(X, y)
    _, g_half, _, _ = net.gradients(X, y, [(0.5 * w, np.full((4, 3), 0.5))])
    assert g_ideal[0][0, 0] == 0.0
    np.testing.assert_allclose(g_half[0], 0.5 * g_ideal[0])


def test_trains_digits_to_high_accuracy(digits):
    result = train_unaware(digits, [64], np.random.default_rng(3), TrainConfig(epochs=20))
    assert result.history.loss[-1] < result.history.loss[0]
    assert evaluate_software(result.net, digits.X_test, digits.y_test) > 0.90
    assert set(np.unique(np.concatenate([w.ravel() for w in result.net.binary_weights()]))) == {
        -1.0,
        1.0,
    }
    assert all(np.abs(w).max() <= 1.0 for w in result.net.latent)


def test_round_trip_and_bad_input():
    rng = np.random.default_rng(4)
    net = BNN.create([3, 2, 2], rng, "sign")
    back = BNN.from_dict(net.as_dict())
    X = rng.random((4, 3))
    np.testing.assert_array_equal(back.forward(X), net.forward(X))
    with pytest.raises(TrainingError):
        fit(net, rng.random((4, 5)), np.zeros(4, int), TrainConfig(epochs=1), rng)
    with pytest.raises(TrainingError):
        fit(net, X, np.array([0, 1, 2, 0]), TrainConfig(epochs=1), rng)
    with pytest.raises(TrainingError):
        BNN.create([3], rng)
    with pytest.raises(TrainingError):
        BNN.create([3, 2], rng, "relu")  # type: ignore[arg-type]
