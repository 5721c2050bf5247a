"""Layer Ensemble Averaging: placement of copies, selection of copies, averaged evaluation."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.training.bnn import BNN
from mtj_hil.training.capacity import devices_needed
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.ensemble import (
    EnsemblePlacement,
    auto_copies,
    check_ensemble_fits,
    lea_layer_currents,
    lea_weights,
    place_ensemble,
    predict_lea,
)
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.evaluation import emulated_read, forward_currents, predict_emulated

SIZES = [100, 64, 10]


def test_auto_copies_fill_the_die_output_layer_first(layout):
    copies = auto_copies(SIZES, layout)
    assert copies == [1, 2]  # 24 + 2 * 3 arrays of 32; a third output copy needs 33
    ens = place_ensemble(SIZES, layout, copies)
    assert ens.sizes == SIZES and ens.n_copies == [1, 2]
    assert ens.devices() == 2 * (100 * 64 + 2 * 64 * 10)
    assert ens.device_cost() == pytest.approx(15360 / 14080)
    assert auto_copies([64, 16, 10], layout)[-1] > 1


def test_copies_that_do_not_fit_are_refused_with_what_they_need(layout):
    with pytest.raises(TrainingError, match=r"needs 54 arrays \(28160 devices"):
        check_ensemble_fits(SIZES, layout, [2, 2])
    with pytest.raises(TrainingError, match="must be >= 1"):
        check_ensemble_fits(SIZES, layout, [0, 2])


def test_copies_use_the_cleanest_arrays_and_round_trip(layout):
    codes = np.zeros((32, 25, 25), dtype=np.uint8)
    codes[5] = DefectCode.SHORT  # a dead array is never used
    codes[9, :, 3] = DefectCode.OPEN
    ens = place_ensemble(SIZES, layout, [1, 2], codes)
    assert 5 not in ens.flat.arrays_used()
    assert len(ens.flat.arrays_used()) == 30
    back = EnsemblePlacement.from_dict(ens.as_dict(), layout)
    assert back.n_copies == [1, 2] and back.flat.as_dict() == ens.flat.as_dict()


def test_weights_drop_the_copy_with_defects_on_an_output(layout):
    ens = place_ensemble([64, 16, 10], layout, [1, 3])
    codes = np.zeros((32, 25, 25), dtype=np.uint8)
    di = ens.index(1, 0)
    codes[di.array[0, 4], di.row[0, 4], di.plus[0, 4]] = DefectCode.STUCK_AP
    w = lea_weights(ens, codes)
    assert w[1].shape == (3, 10)
    np.testing.assert_allclose(w[1][:, 4], [0, 0.5, 0.5])
    np.testing.assert_allclose(w[1][:, 0], [1 / 3] * 3)
    np.testing.assert_allclose(w[0], 1.0)
    w1 = lea_weights(ens, codes, beta=1)
    np.testing.assert_allclose(w1[1].sum(axis=0), 1.0)
    assert w1[1][0, 4] == 0
    with pytest.raises(TrainingError):
        lea_weights(ens, codes, beta=0)


def test_averaging_copies_equals_the_read_path_and_ideal_copies_equal_software(layout):
    rng = np.random.default_rng(0)
    net = BNN.create(SIZES, rng)
    X = rng.random((40, 100))
    ens = place_ensemble(SIZES, layout, [1, 2])
    ideal = DieModel.ideal(layout)
    w = lea_weights(ens)
    np.testing.assert_array_equal(predict_lea(net, X, ideal, ens, w), net.predict(X))
    # a die with variation: averaged realisation and averaged crossbar reads agree exactly
    g_p = 233e-6 * np.exp(0.1 * rng.standard_normal((32, 25, 25)))
    die = DieModel(layout, g_p, 0.6 * g_p, np.zeros((32, 25, 25), dtype=np.uint8))
    real = predict_lea(net, X, die, ens, w)
    bits, _ = ens.target_bits(net.binary_weights())
    currents = lea_layer_currents(ens, emulated_read(die, bits, None), w)
    read = np.argmax(forward_currents(net, X, currents, ens.flat), axis=1)
    np.testing.assert_array_equal(real, read)
    # one copy with weight 1 is the single placement
    single = [np.ones((1, 64)), np.array([[1.0] * 10, [0.0] * 10])]
    np.testing.assert_array_equal(
        predict_lea(net, X, die, ens, single),
        predict_emulated(
            net, X, die, ens.flat.__class__(layout, [ens.copies[0][0], ens.copies[1][0]])
        ),
    )
    with pytest.raises(TrainingError):
        predict_lea(net, X, die, ens, [np.ones((1, 64))])


def test_a_die_with_too_few_usable_devices_is_refused_saying_how_many(layout):
    from mtj_hil.training.capacity import check_usable, devices_needed

    codes = np.zeros((32, 25, 25), dtype=np.uint8)
    assert check_usable(SIZES, codes) == 20_000
    codes[:10] = DefectCode.OPEN
    codes[10, :, :10] = DefectCode.UNCERTAIN  # suspect: not usable
    assert devices_needed(SIZES) == 14_080
    with pytest.raises(TrainingError, match="die 3 has 13500 usable .* needs 14080"):
        check_usable(SIZES, codes, die="die 3")
    codes[:4] = DefectCode.GOOD
    with pytest.raises(TrainingError, match=r"only 26 of its 32 arrays \(arrays 4-9 hold none"):
        check_usable(SIZES, codes)  # 16000 usable devices, but 27 tiles for 26 arrays
    codes[4:10, 0, 0] = DefectCode.GOOD
    assert check_usable(SIZES, codes) == 16_006
    with pytest.raises(TrainingError, match=r"with copies \[1, 8\] needs 23040"):
        check_usable(SIZES, codes, [1, 8])


def test_a_die_whose_usable_devices_sit_on_too_few_arrays_is_refused_saying_where(layout):
    from mtj_hil.training.capacity import check_usable

    codes = np.zeros((32, 25, 25), dtype=np.uint8)
    codes[6:] = DefectCode.OPEN  # 3750 GOOD devices, enough in number for 2368
    with pytest.raises(
        TrainingError,
        match=r"die 3 holds usable \(GOOD\) devices on only 6 of its 32 arrays \(arrays "
        r"6-31 hold none\); the network 64-16-10 needs 7 arrays",
    ):
        check_usable([64, 16, 10], codes, die="die 3")
    codes[6, 0, 0] = DefectCode.GOOD  # an array with one usable device is one more
    assert check_usable([64, 16, 10], codes) == 3751
    codes[:] = DefectCode.GOOD
    codes[[0, 2, 3]] = DefectCode.SHORT
    codes[7:] = DefectCode.OPEN
    with pytest.raises(TrainingError, match=r"on only 4 of .* \(arrays 0, 2-3, 7-31 hold none"):
        check_usable([64, 16, 10], codes)


def test_auto_copies_stay_on_the_arrays_that_hold_usable_devices(layout):
    sizes = [64, 16, 10]
    copies = auto_copies(sizes, layout, arrays=20)
    assert copies == [2, 8]  # 12 + 8 arrays; [4, 8] needs all 32
    codes = np.zeros((32, 25, 25), dtype=np.uint8)
    codes[20:] = DefectCode.OPEN
    ens = place_ensemble(sizes, layout, copies, codes)
    assert max(ens.flat.arrays_used()) < 20  # no copy on an array without a usable device


def test_every_copy_leaves_whole_defective_lines_on_spares(layout):
    codes = np.zeros((32, 25, 25), dtype=np.uint8)
    codes[:, :, 6] = DefectCode.OPEN
    codes[:, 9, :] = DefectCode.SHORT
    ens = place_ensemble(SIZES, layout, [1, 2], codes)
    for c in range(2):
        di = ens.index(1, c)
        assert not np.any(di.row == 9)
        assert not np.any((di.plus == 6) | (di.minus == 6))
    assert not np.any(ens.index(0, 0).plus == 6) and not np.any(ens.index(0, 0).minus == 6)


def test_auto_copies_stay_within_the_usable_devices(layout):
    sizes = [64, 16, 10]
    assert auto_copies(sizes, layout) == [4, 8]  # 10752 devices on a clean die
    copies = auto_copies(sizes, layout, usable=7000)
    assert devices_needed(sizes, copies) <= 7000 and copies[-1] == 8
    assert auto_copies(sizes, layout, usable=100) == [1, 1]  # check_usable refuses it
