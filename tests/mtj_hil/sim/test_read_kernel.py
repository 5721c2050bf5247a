"""The blocked read kernel (product, cubic bias term and noise fused per cache-sized block)
gives the numbers of the plain unblocked sequence of the same operations."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.sim import load_profile, make_die
from mtj_hil.sim.kernels import PRODUCT_BLOCK, product_and_range


@pytest.mark.parametrize("n", [PRODUCT_BLOCK + 1, 3 * PRODUCT_BLOCK + 17, 12_000])
def test_large_read_equals_the_unblocked_sequence(n):
    profile = load_profile("1t1r-20k")
    assert profile.bias is not None and profile.read.noise_rel > 0
    die, twin = make_die(profile, 0, 9), make_die(profile, 0, 9)
    v = np.random.default_rng(n).uniform(-0.1, 0.1, (n, profile.geometry.rows))
    got = die.read(2, v)
    g = twin.effective_conductance(2)
    gk = g * twin.curvature(2)
    gain, extra = twin._noise(2, (n, g.shape[1]))
    want = (v @ g + (v * v * v) @ gk) * gain + extra
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12 * np.abs(want).max())
    # the cubic term is not negligible here, so leaving it out would be caught
    assert np.abs(((v * v * v) @ gk) * gain).max() > 1e3 * np.abs(got - want).max()


@pytest.mark.parametrize("layout", ["c", "fortran"])
def test_cubic_term_accumulates_into_the_product_bit_for_bit(layout):
    # the in-place BLAS update (C order) and the plain fallback (any other layout) both
    # give exactly the numbers of ``v @ g + (v * v * v) @ gk``
    rng = np.random.default_rng(3)
    n = 2 * PRODUCT_BLOCK + 5
    v = rng.uniform(-0.3, 0.3, (n, 25))
    g = rng.uniform(1e-4, 3e-4, (25, 25))
    gk = g * rng.uniform(0.0, 5.0, (25, 25))
    if layout == "fortran":
        gk = np.asfortranarray(gk)
    got, lowest, highest = product_and_range(v, g, gk=gk)
    # BLAS may pick another kernel for another number of rows: compare block by block
    want = np.concatenate(
        [
            b @ g + (b * b * b) @ gk
            for b in (v[i : i + PRODUCT_BLOCK] for i in range(0, n, PRODUCT_BLOCK))
        ]
    )
    assert np.array_equal(got, want)
    assert (lowest, highest) == (v.min(), v.max())


def test_conductance_map_reads_take_the_one_hot_shortcut_bit_for_bit(monkeypatch):
    # the same die twice: one reads conductance_map's own stacks (the shortcut), the twin
    # writable copies of them (the product); every current must be equal, bit for bit
    from mtj_hil.protocols.chip import CellState
    from mtj_hil.protocols.read import _one_hot_vectors, one_hot_level
    from mtj_hil.sim import reading

    profile = load_profile("1t1r-20k")
    die, twin = make_die(profile, 0, 5), make_die(profile, 0, 5)
    shortcuts = []
    real = reading._one_hot_currents
    monkeypatch.setattr(reading, "_one_hot_currents", lambda *a: shortcuts.append(1) or real(*a))
    rows = profile.geometry.rows
    rng = np.random.default_rng(1)
    for step in range(12):
        array = step % 3
        level, repeats = (0.1, 1) if step % 2 else (0.3, 1 + step % 3)
        stack = _one_hot_vectors(rows, level, repeats)
        assert one_hot_level(stack) == (level, repeats) and one_hot_level(stack.copy()) is None
        for _ in range(2):  # the same reads before and after a pulse that switches devices
            got, want = die.read(array, stack), twin.read(array, stack.copy())
            assert np.array_equal(got, want)
            mask = rng.random((rows, profile.geometry.cols)) < 0.5
            state = CellState.P if step % 4 < 2 else CellState.AP
            for d in (die, twin):
                d.apply_pulse(array, mask, state, 0.8, 1e-6)
    assert len(shortcuts) == 24


def _bias_case(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.random.Generator]:
    rng = np.random.default_rng(seed)
    g = rng.uniform(1e-4, 3e-4, (25, 25))
    return g, g * rng.uniform(0.5, 5.0, (25, 25)), rng


@pytest.mark.parametrize("levels", [(-0.2, 0.2), (-0.2, 0.0, 0.2), (0.0, 0.3)])
def test_one_magnitude_reads_fold_the_bias_term_into_one_product(levels, monkeypatch):
    # +-V_read inputs (and lines left at 0 V) have V**3 = V_read**2 V: one product with
    # G0 + V_read**2 G0 k, equal to the two products up to rounding
    from mtj_hil.sim import kernels

    n = 3 * PRODUCT_BLOCK + 7
    g, gk, rng = _bias_case(n, 4)
    v = rng.choice(levels, size=(n, 25))
    seen = []
    real = kernels._one_magnitude
    monkeypatch.setattr(kernels, "_one_magnitude", lambda *a: seen.append(real(*a)) or seen[-1])
    got, lowest, highest = product_and_range(v, g, gk=gk)
    want = v @ g + (v * v * v) @ gk
    np.testing.assert_allclose(got, want, rtol=1e-13, atol=1e-16)
    assert (lowest, highest) == (v.min(), v.max())
    u = max(abs(x) for x in levels)
    assert seen == [u * u] * 4  # every block took the folded product
    # the cubic term matters at this size, so the fold must keep it
    assert np.abs((v * v * v) @ gk).max() > 1e6 * np.abs(got - want).max()


@pytest.mark.parametrize(
    "spoil", [lambda v: v.__setitem__((5, 3), 0.1), lambda v: v.__setitem__((7, 0), np.nan)]
)
def test_a_block_with_a_second_magnitude_takes_the_two_products(spoil):
    # one voltage of another magnitude in the second block: that block is cubed exactly,
    # the others are folded; a NaN is never folded (and still reported by the range)
    n = 2 * PRODUCT_BLOCK
    g, gk, rng = _bias_case(n, 5)
    v = rng.choice((-0.2, 0.2), size=(n, 25))
    spoil(v[PRODUCT_BLOCK:])
    got, lowest, highest = product_and_range(v, g, gk=gk)
    second = v[PRODUCT_BLOCK:]
    exact = second @ g + (second * second * second) @ gk
    assert np.array_equal(got[PRODUCT_BLOCK:], exact, equal_nan=True)
    if np.isnan(v).any():
        assert np.isnan(lowest) and np.isnan(highest)
    else:
        np.testing.assert_allclose(got[:PRODUCT_BLOCK], (v @ g + (v * v * v) @ gk)[:PRODUCT_BLOCK])
