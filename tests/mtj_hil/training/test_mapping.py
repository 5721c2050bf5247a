"""Placement of layers on arrays, bit patterns and effective weights."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.mapping import (
    LayerPlacement,
    Placement,
    Tile,
    effective_weights,
    place,
    place_defect_aware,
    target_bits,
    weight_response,
)


def _random_weights(rng, sizes):
    return [
        np.where(rng.random((a, b)) < 0.5, 1.0, -1.0)
        for a, b in zip(sizes[:-1], sizes[1:], strict=True)
    ]


def test_100_64_10_fits_and_1000_500_10_raises(layout):
    p = place([100, 64, 10], layout)
    assert len(p.arrays_used(0)) == 24  # 4 row bands x 6 column tiles
    assert len(p.arrays_used(1)) == 3
    assert p.used_mask().sum() == 2 * (100 * 64 + 64 * 10)
    with pytest.raises(TrainingError, match=r"layer 0 \(1000 x 500\).*1000000 devices.*32 arrays"):
        place([1000, 500, 10], layout)


def test_bits_follow_differential_convention(layout):
    rng = np.random.default_rng(0)
    p = place([30, 13, 4], layout)
    w = _random_weights(rng, [30, 13, 4])
    bits, used = target_bits(p, w)
    # layer 0, input 0 on array 0 row 0; output 0 on columns 0 (plus) and 1 (minus)
    assert bits[0, 0, 0] == (w[0][0, 0] > 0) and bits[0, 0, 1] == (w[0][0, 0] < 0)
    # input 27 is in the second row band (array 2, row 2); output 12 in the second column tile
    t = [
        t
        for t in p.layers[0].tiles
        if t.in_start <= 27 < t.in_stop and t.out_start <= 12 < t.out_stop
    ][0]
    assert bits[t.array, 27 - t.in_start, 2 * (12 - t.out_start)] == (w[0][27, 12] > 0)
    assert not bits[~used].any()
    G = np.where(bits == 1, layout.nominal_g_p, layout.nominal_g_ap)
    for got, want in zip(effective_weights(p, G), w, strict=True):
        np.testing.assert_array_equal(got, want)


def test_weight_response_is_exact_for_defects(layout):
    rng = np.random.default_rng(1)
    p = place([20, 6, 3], layout)
    shape = (layout.n_arrays, layout.rows, layout.cols)
    g1 = rng.uniform(200e-6, 260e-6, shape)
    g0 = rng.uniform(120e-6, 150e-6, shape)
    g1[0, 3, 0] = g0[0, 3, 0] = 2e-3  # a short on the plus device of weight (3, 0)
    w = _random_weights(rng, [20, 6, 3])
    bits, _ = target_bits(p, w)
    direct = effective_weights(p, np.where(bits == 1, g1, g0))
    for (off, sl), wl, d in zip(weight_response(p, g1, g0), w, direct, strict=True):
        np.testing.assert_allclose(off + sl * wl, d, rtol=1e-12, atol=1e-12)


def test_round_trip_and_invalid_tiles(layout):
    p = place([40, 20, 10], layout, array_order=list(range(31, -1, -1)))
    q = Placement.from_dict(p.as_dict(), layout)
    assert q.as_dict() == p.as_dict()
    assert p.arrays_used() == list(range(27, 32))  # 2 x 2 tiles + 1
    lp = LayerPlacement(
        4, 2, np.arange(4), np.arange(2), (Tile(0, 0, 0, 0, 4, 0, 2), Tile(0, 2, 0, 0, 2, 0, 1))
    )
    with pytest.raises(TrainingError, match="twice"):
        Placement(layout, [lp])
    lp = LayerPlacement(4, 2, np.arange(4), np.arange(2), (Tile(0, 23, 0, 0, 4, 0, 2),))
    with pytest.raises(TrainingError, match="does not fit"):
        Placement(layout, [lp])
    a = LayerPlacement(4, 2, np.arange(4), np.arange(2), (Tile(0, 0, 0, 0, 4, 0, 2),))
    b = LayerPlacement(2, 2, np.arange(2), np.arange(2), (Tile(0, 1, 2, 0, 2, 0, 2),))
    with pytest.raises(TrainingError, match="overlaps"):
        Placement(layout, [a, b])


def test_tiles_may_share_an_array_at_offsets(layout):
    a = LayerPlacement(13, 6, np.arange(13), np.arange(6), (Tile(5, 0, 0, 0, 13, 0, 6),))
    b = LayerPlacement(6, 3, np.arange(6), np.arange(3), (Tile(5, 13, 12, 0, 6, 0, 3),))
    p = Placement(layout, [a, b])
    assert p.arrays_used() == [5] and p.index(1).row.min() == 13 and p.index(1).plus.min() == 12


def test_defect_aware_placement_avoids_shorts(layout):
    rng = np.random.default_rng(2)
    codes = np.where(
        rng.random((layout.n_arrays, layout.rows, layout.cols)) < 0.002,
        DefectCode.SHORT,
        DefectCode.GOOD,
    ).astype(np.uint8)
    codes[:5] = DefectCode.GOOD  # five clean arrays
    codes[5, 0, 0] = DefectCode.SHORT
    sizes = [100, 64, 10]
    importance = rng.random(100)
    naive, aware = place(sizes, layout), place_defect_aware(sizes, layout, codes, importance)
    shorts = codes == DefectCode.SHORT
    assert (shorts & aware.used_mask()).sum() < (shorts & naive.used_mask()).sum()
    assert set(aware.arrays_used(1)) <= {0, 1, 2, 3, 4}
    # the same network function: permutations only change where weights sit
    w = _random_weights(rng, sizes)
    bits, _ = target_bits(aware, w)
    G = np.where(bits == 1, layout.nominal_g_p, layout.nominal_g_ap)
    for got, want in zip(effective_weights(aware, G), w, strict=True):
        np.testing.assert_array_equal(got, want)
    with pytest.raises(TrainingError):
        place_defect_aware(sizes, layout, codes[:3])


def test_defect_aware_placement_leaves_whole_defective_lines_unused(layout):
    from mtj_hil.training.mapping import place_defect_aware

    codes = np.zeros((32, 25, 25), dtype=np.uint8)
    codes[:, :, 4] = DefectCode.OPEN  # a whole open output line in every array
    codes[:, 3, :] = DefectCode.SHORT  # a whole shorted input line in every array
    pl = place_defect_aware([100, 64, 10], layout, codes)
    out = pl.index(1)  # 64 inputs on 3 bands of 25 rows: 11 spare rows, 2 spare pairs
    assert not np.any(out.row == 3)
    assert not np.any((out.plus == 4) | (out.minus == 4))
    hidden = pl.index(0)  # 8 spare pairs: the open line carries no weight here either
    assert not np.any((hidden.plus == 4) | (hidden.minus == 4))
    assert np.all(codes[hidden.array, hidden.row, hidden.plus][hidden.row != 3] == 0)
