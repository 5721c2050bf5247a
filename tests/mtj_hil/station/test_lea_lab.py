"""Layer Ensemble Averaging through the hardware backend: the virtual lab's die is programmed
with every copy and read per copy, and agrees with the in-process simulator of that die."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.experiments.onchip import evaluate_lea_on_chip
from mtj_hil.sim import SimulatedChip
from mtj_hil.training.bnn import TrainConfig
from mtj_hil.training.datasets import load_digits
from mtj_hil.training.ensemble import lea_weights, place_ensemble
from mtj_hil.training.methods import train_unaware

pytestmark = pytest.mark.slow


def test_lea_on_the_virtual_lab_matches_the_simulator(lab_chip):
    data = load_digits(np.random.default_rng(0))
    net = train_unaware(data, [8], np.random.default_rng(1), TrainConfig(epochs=8)).net
    ens = place_ensemble(net.sizes, lab_chip.layout, [1, 2])
    w = lea_weights(ens)
    X, y = data.X_test[:60], data.y_test[:60]
    lab_acc, rep = evaluate_lea_on_chip(lab_chip, net, ens, w, X, y)
    assert rep is not None and rep.selected == ens.devices()
    assert rep.bit_error_rate < 0.01
    with SimulatedChip.from_lot("1t1r-20k", 0, 7) as sim:  # the station file's die
        sim_acc, _ = evaluate_lea_on_chip(sim, net, ens, w, X, y)
    assert abs(lab_acc - sim_acc) <= 3 / 60
    assert lab_acc > 0.5
