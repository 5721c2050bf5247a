"""Chip-in-the-loop training: measured forward passes teach the network the die's defects."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.experiments.onchip import evaluate_on_chip
from mtj_hil.sim import SimulatedChip, load_profile
from mtj_hil.training.bnn import TrainConfig
from mtj_hil.training.chip_loop import train_chip_in_the_loop
from mtj_hil.training.datasets import load_digits
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.mapping import place
from mtj_hil.training.methods import train_unaware


@pytest.fixture(scope="module")
def digits_net():
    rng = np.random.default_rng(0)
    data = load_digits(rng)
    net = train_unaware(data, (32,), rng, TrainConfig(epochs=15)).net
    return data, net


@pytest.mark.slow
def test_in_the_loop_recovers_accuracy_lost_to_shorts(digits_net):
    data, net = digits_net
    profile = load_profile("1t1r-20k").replace(
        defects={"short_rate": 0.01, "short_g_median": 1.5e-3}
    )
    gains = []
    for die in range(2):
        chip = SimulatedChip.from_lot(profile, 0, die)
        placement = place(net.sizes, chip.layout)
        before, _ = evaluate_on_chip(chip, net, placement, data.X_test, data.y_test)
        tuned = net.copy()
        reads_before = chip.read_calls
        _, stats = train_chip_in_the_loop(
            data,
            tuned,
            chip,
            placement,
            np.random.default_rng(1),
            TrainConfig(epochs=3, lr=0.003, lr_final=0.0003),
        )
        # forward passes were measured (the rest of the reads are write-verify's)
        assert chip.read_calls - reads_before > stats.reads > 0
        after, _ = evaluate_on_chip(chip, tuned, placement, data.X_test, data.y_test, program=False)
        gains.append(after - before)
        # What is on the die is exactly the tuned network (only flipped weights rewritten).
        from mtj_hil.training.mapping import target_bits

        bits, used = target_bits(placement, tuned.binary_weights())
        good = used & (chip.die.defect == 0)
        np.testing.assert_array_equal(chip.die.state[good], bits[good].astype(bool))
    assert min(gains) > 0.05, gains


def test_in_the_loop_refuses_a_placement_for_another_network(digits_net):
    data, net = digits_net
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 0)
    wrong = place([64, 16, 10], chip.layout)
    with pytest.raises(TrainingError, match="placement is for"):
        train_chip_in_the_loop(data, net.copy(), chip, wrong, np.random.default_rng(0))
    assert chip.program_calls == 0
