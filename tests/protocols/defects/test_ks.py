"""The KS test of the held-out level check gives scipy's ks_2samp statistic and p-value bit
for bit (ties, disjoint samples, both ways of counting; scipy's exact range and an empty sample
are scipy's own)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import ks_2samp

from mtj_hil.protocols.defects.ks import ASYMPTOTIC_FROM, FEW, ks_two_sided

RNG = np.random.default_rng(20261205)


def _draw(kind: str, n1: int, n2: int) -> tuple[np.ndarray, np.ndarray]:
    if kind == "shifted":
        return RNG.normal(size=n1) + RNG.normal(), RNG.normal(size=n2)
    if kind == "coded":  # heavy ties within and between the samples
        return np.round(RNG.normal(size=n1) * 3) / 3, np.round(RNG.normal(size=n2) * 3) / 3
    if kind == "wide":
        return RNG.normal(size=n1) * 5, RNG.normal(size=n2)
    if kind == "disjoint":
        return RNG.normal(size=n1) + 10 * RNG.choice([-1, 1]), RNG.normal(size=n2)
    large = np.round(RNG.normal(size=n2), 1)
    return RNG.choice(large, size=n1), large  # the small sample's values all in the large


@pytest.mark.parametrize("kind", ["shifted", "coded", "wide", "disjoint", "drawn from it"])
@pytest.mark.parametrize("few", [True, False])
def test_ks_is_scipys_bit_for_bit(kind: str, few: bool) -> None:
    for _ in range(12):
        n1 = int(RNG.integers(1, FEW + 1)) if few else int(RNG.integers(FEW + 1, 2000))
        small, large = _draw(kind, n1, int(RNG.integers(ASYMPTOTIC_FROM + 1, 25_000)))
        ref = ks_2samp(small, large)
        got = ks_two_sided(small, large)
        assert np.float64(got[0]).tobytes() == np.float64(ref.statistic).tobytes()
        assert np.float64(got[1]).tobytes() == np.float64(ref.pvalue).tobytes()


def test_ks_leaves_scipys_exact_range_to_scipy() -> None:
    small, large = _draw("shifted", 30, ASYMPTOTIC_FROM)
    ref = ks_2samp(small, large)
    assert ks_two_sided(small, large) == (float(ref.statistic), float(ref.pvalue))
    with pytest.warns(Warning):  # an empty sample: scipy's NaN and warning
        assert np.isnan(ks_two_sided(np.array([]), large)).all()
