"""Input sharing: the least important first-layer inputs' rows carry copies of the most
important ones, with tied weights and split voltages."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.training.bnn import TrainConfig
from mtj_hil.training.die_model import PopulationModel
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.evaluation import predict_emulated
from mtj_hil.training.mapping import place
from mtj_hil.training.methods import die_realisation, mean_loss, train_defect_aware, train_unaware
from mtj_hil.training.sharing import InputSharing, share_inputs


@pytest.fixture(scope="module")
def base(digits):
    return train_unaware(digits, [16], np.random.default_rng(1), TrainConfig(epochs=3)).net


@pytest.fixture(scope="module")
def spread_die(layout):
    """Wide spread and low contrast: the pairs' offsets are large (as on early process)."""
    pop = PopulationModel(layout, layout.nominal_g_p, 0.13, layout.nominal_g_p / 1.3, 0.13)
    return pop.sample_die(np.random.default_rng(4))


def test_rows_go_from_the_least_to_the_most_important_inputs():
    imp = np.array([0.0, 0.5, 0.01, 0.3, 0.002, 0.2, 0.1, 0.4])
    sharing = share_inputs(imp, 2)
    copies = sharing.copies
    assert sharing.source.size == imp.size  # as many rows as inputs
    assert copies[0] == copies[4] == 0  # the two least important are dropped
    assert copies[1] == copies[7] == 2  # the two most important have two rows each
    assert copies.sum() == imp.size
    # greedy by importance / (k (k + 1)): a third copy of the top input only once it beats
    # a second copy of the next
    assert share_inputs(np.array([1.0, 0.0, 0.0, 0.1]), 2).copies.tolist() == [3, 0, 0, 1]
    assert np.array_equal(share_inputs(imp, 0).source, np.arange(imp.size))
    with pytest.raises(TrainingError, match="shared rows"):
        share_inputs(imp, 5)


def test_the_physical_network_computes_the_logical_one(digits, base):
    """Copies at 1/k of the voltage with the same binary weight: the same network, but for
    the dropped inputs (zeroed here)."""
    sharing = share_inputs((digits.X_train**2).mean(axis=0), 12)
    X = digits.X_test.copy()
    X[:, sharing.copies == 0] = 0.0
    physical = sharing.physical(base)
    assert np.allclose(physical.forward(sharing.expand(X)), base.forward(X))
    assert np.allclose(sharing.expand(X), X @ sharing.expansion())
    with pytest.raises(TrainingError, match="inputs"):
        InputSharing(np.arange(3), 3).physical(base)


def test_logical_realisation_is_exact_on_the_die(digits, base, spread_die, layout):
    """Training through ``logical(realisation)`` sees exactly what the placed physical
    network computes on the die."""
    sharing = share_inputs((digits.X_train**2).mean(axis=0), 12)
    p = place(base.sizes, layout)
    physical = sharing.physical(base)
    real = sharing.logical(die_realisation(spread_die, p))
    assert np.allclose(
        base.forward(digits.X_test, real),
        physical.forward(sharing.expand(digits.X_test), die_realisation(spread_die, p)),
    )
    pred = predict_emulated(physical, sharing.expand(digits.X_test), spread_die, p)
    assert np.array_equal(pred, base.predict(digits.X_test, real))


def test_copies_average_the_offsets(digits, spread_die, layout, base):
    """An input on two rows realises the mean of two pairs: its weights' offsets have half
    the variance of a single row's."""
    imp = (digits.X_train**2).mean(axis=0)
    sharing = share_inputs(imp, 16)
    off = sharing.logical(die_realisation(spread_die, place(base.sizes, layout)))[0][0]
    single, double = off[sharing.copies == 1], off[sharing.copies == 2]
    assert double.size and single.size
    assert 0.3 < double.var() / single.var() < 0.7
    assert np.all(off[sharing.copies == 0] == 0.0)  # dropped inputs realise no weight


def test_fine_tuning_trains_through_the_shared_rows(digits, base, spread_die, layout):
    """With ``sharing`` the fine-tuning trains through what the shared rows realise: it
    ends at a lower loss through them than the same fine-tuning through one row per input
    (fails if ``train_defect_aware`` ignores ``sharing``)."""
    sharing = share_inputs((digits.X_train**2).mean(axis=0), 8)
    p = place(base.sizes, layout)
    real = sharing.logical(die_realisation(spread_die, p))
    cfg = TrainConfig(epochs=3, lr=0.02, lr_final=None)

    def tune(**options):
        rng = np.random.default_rng(2)
        return train_defect_aware(digits, [16], spread_die, p, rng, cfg, init=base, **options)

    losses = []
    for share in (None, sharing):
        tuned = tune(freeze_defective=False, sharing=share).net
        losses.append(mean_loss(tuned, digits.X_train, digits.y_train, [real]))
    assert losses[1] < losses[0] - 0.05
    with pytest.raises(TrainingError, match="freeze_defective"):
        tune(sharing=sharing)
