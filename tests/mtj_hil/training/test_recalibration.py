"""Per-neuron recalibration from reads of a calibration batch, and the fine-tuning shrink."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.training.bnn import TrainConfig
from mtj_hil.training.die_model import DieModel, PopulationModel
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.evaluation import crossbar_layer_currents, emulated_read
from mtj_hil.training.mapping import place, target_bits
from mtj_hil.training.methods import die_realisation, mean_loss, train_defect_aware, train_unaware
from mtj_hil.training.recalibration import (
    Recalibration,
    calibration_batch,
    components_cost,
    fit_recalibration,
    predict_recalibrated,
    signal_from_currents,
)


@pytest.fixture(scope="module")
def net(digits):
    return train_unaware(digits, [32], np.random.default_rng(1), TrainConfig(epochs=15)).net


def _die_signal(net, die, layout, rng):
    p = place(net.sizes, layout)
    bits, _ = target_bits(p, net.binary_weights())
    return signal_from_currents(crossbar_layer_currents(p, emulated_read(die, bits, rng)), layout)


def test_ideal_die_needs_no_correction(digits, net, layout):
    signal = _die_signal(net, DieModel.ideal(layout), layout, None)
    cal = fit_recalibration(net, digits.X_train[:200], signal)
    for sc, sh in zip(cal.scale, cal.shift, strict=True):
        np.testing.assert_allclose(sc[sc != 0], 1.0, atol=1e-9)
        np.testing.assert_allclose(sh[sc != 0], 0.0, atol=1e-9)
    pred = predict_recalibrated(net, digits.X_test, signal, cal)
    np.testing.assert_array_equal(pred, net.predict(digits.X_test))


def test_per_neuron_gain_and_offset_are_undone(digits, net):
    """A die whose every neuron reads ``a * ideal + b`` is exactly corrected."""
    rng = np.random.default_rng(3)
    a = [rng.uniform(0.4, 1.6, n) * rng.choice([-1, 1], n) for n in net.sizes[1:]]
    b = [rng.normal(0, 5, n) for n in net.sizes[1:]]
    w = net.binary_weights()

    def distorted(layer, x):
        return a[layer] * (x @ w[layer]) + b[layer]

    raw = predict_recalibrated(net, digits.X_test, distorted, Recalibration.identity(net))
    assert np.mean(raw == net.predict(digits.X_test)) < 0.8
    cal = fit_recalibration(net, digits.X_train[:300], distorted)
    pred = predict_recalibrated(net, digits.X_test, distorted, cal)
    np.testing.assert_array_equal(pred, net.predict(digits.X_test))


def test_recalibration_recovers_accuracy_on_a_wide_spread_die(digits, net, layout):
    """Emulated reads (with read noise) of a die with 13 % spread and a low TMR, as an early
    process gives: the recalibrated network is much closer to software."""
    pop = PopulationModel(
        layout, layout.nominal_g_p, 0.13, layout.nominal_g_p / 1.3, 0.13, read_noise=0.01
    )
    sw = np.mean(net.predict(digits.X_test) == digits.y_test)
    gains = []
    for seed in range(3):
        die = pop.sample_die(np.random.default_rng(seed))
        signal = _die_signal(net, die, layout, np.random.default_rng(10 + seed))
        X_cal = calibration_batch(digits.X_train, np.random.default_rng(seed), 256)
        before = predict_recalibrated(net, digits.X_test, signal, Recalibration.identity(net))
        cal = fit_recalibration(net, X_cal, signal)
        after = predict_recalibrated(net, digits.X_test, signal, cal)
        gains.append(np.mean(after == digits.y_test) - np.mean(before == digits.y_test))
        assert np.mean(after == digits.y_test) > sw - 0.15
    assert np.mean(gains) > 0.05


def test_dead_column_and_bad_batches(digits, net):
    w = net.binary_weights()

    def dead_first(layer, x):
        s = x @ w[layer]
        if layer == 0:
            s[:, 0] = 3.0
        return s

    cal = fit_recalibration(net, digits.X_train[:50], dead_first)
    assert cal.scale[0][0] == 0.0
    assert cal.shift[0][0] == pytest.approx(np.mean(digits.X_train[:50] @ w[0][:, 0]))
    with pytest.raises(TrainingError, match="calibration batch"):
        fit_recalibration(net, digits.X_train[:1], dead_first)
    with pytest.raises(TrainingError, match="do not match"):
        Recalibration([np.ones(3)], [np.zeros(3)]).check(net)
    assert calibration_batch(digits.X_train[:10], np.random.default_rng(0), 512).shape[0] == 10


def test_shrink_lets_a_short_fine_tuning_flip_weights(digits, layout):
    """Latents trained long sit at the clip; one epoch at a small step barely flips any. The
    shrunk start (the same binary network) reaches a lower loss through the die."""
    base = train_unaware(
        digits, [32], np.random.default_rng(1), TrainConfig(epochs=20, lr=0.05, lr_final=None)
    ).net
    assert np.mean(np.abs(base.latent[0]) > 0.99) > 0.2  # many sit at the clip
    pop = PopulationModel(layout, layout.nominal_g_p, 0.13, layout.nominal_g_p / 1.3, 0.13)
    die = pop.sample_die(np.random.default_rng(4))
    p = place(base.sizes, layout)
    real = die_realisation(die, p)
    cfg = TrainConfig(epochs=2, lr=0.01, lr_final=None)
    losses, flips = [], []
    for shrink in (1.0, 0.05):
        tuned = train_defect_aware(
            digits, [32], die, p, np.random.default_rng(2), cfg, init=base, init_shrink=shrink
        ).net
        losses.append(mean_loss(tuned, digits.X_train, digits.y_train, [real]))
        changed = zip(tuned.binary_weights(), base.binary_weights(), strict=True)
        flips.append(sum(int(np.sum(t != b)) for t, b in changed))
    assert flips[1] > 2 * flips[0]
    assert losses[1] < losses[0]
    with pytest.raises(TrainingError, match="init_shrink"):
        train_defect_aware(
            digits, [32], die, p, np.random.default_rng(2), cfg, init=base, init_shrink=0.0
        )


def test_input_components_undo_a_linear_mismatch(digits, net):
    """A layer reading ``x @ (w + O)`` (a fixed mismatch ``O`` per pair, linear in the input):
    scale and shift alone cannot undo it; with as many components as inputs the correction is
    exact, and a few components already take most of it away."""
    rng = np.random.default_rng(5)
    w = net.binary_weights()
    offsets = [0.7 * rng.standard_normal(m.shape) for m in w]

    def mismatched(layer, x):
        return x @ (w[layer] + offsets[layer])

    X_cal = digits.X_train[:400]
    ideal = [X_cal @ w[0]]
    err = {}
    for k in (0, 8, 64):
        cal = fit_recalibration(net, X_cal, mismatched, components=k)
        got = cal.wrap(mismatched)(0, X_cal)
        err[k] = float(np.sqrt(np.mean((got - ideal[0]) ** 2)))
        # k components per layer, at most the layer's inputs (32 hidden units)
        assert cal.digital_cost() == k * (64 + 32) + min(k, 32) * (32 + 10)
        assert components_cost(net.sizes, k) == cal.digital_cost()
    assert err[64] < 1e-8 < err[8] < 0.5 * err[0]
    pred = predict_recalibrated(
        net, digits.X_test, mismatched, fit_recalibration(net, X_cal, mismatched, components=64)
    )
    np.testing.assert_array_equal(pred, net.predict(digits.X_test))
    with pytest.raises(TrainingError, match="components"):
        fit_recalibration(net, X_cal[:10], mismatched, components=9)
