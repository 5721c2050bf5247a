"""Confidence intervals."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.experiments.stats import binomial_ci, bootstrap_ci, mean_ci


def test_binomial_ci_brackets_the_rate():
    ci = binomial_ci(90, 1000)
    assert ci.low < 0.09 < ci.high
    assert ci.low == pytest.approx(0.0730, abs=5e-4)
    assert binomial_ci(0, 10).low == 0.0
    with pytest.raises(ValueError):
        binomial_ci(11, 10)


def test_mean_intervals_agree_roughly():
    v = np.random.default_rng(0).normal(0.1, 0.01, 36)
    t, b = mean_ci(v), bootstrap_ci(v, np.random.default_rng(1))
    assert t.low < v.mean() < t.high
    assert abs(t.high - b.high) < 0.002


def test_paired_difference_uses_only_discordant_samples():
    from mtj_hil.experiments.stats import paired_difference

    a = np.zeros(1000, dtype=bool)
    b = np.zeros(1000, dtype=bool)
    a[:100] = b[:100] = True  # both wrong: no variance
    a[100:130] = True  # 30 only a wrong
    b[130:140] = True  # 10 only b wrong
    ci = paired_difference(a, b)
    assert ci.value == pytest.approx(0.02)
    assert ci.low < 0.02 < ci.high and ci.low > 0.0  # significantly worse
    same = paired_difference(a, a)
    assert same.value == same.low == same.high == 0.0
    with pytest.raises(ValueError):
        paired_difference(a, b[:10])


def test_counts_interval_equals_the_paired_interval_and_power_grows_with_n():
    from mtj_hil.experiments.stats import (
        discordant,
        paired_difference,
        paired_from_counts,
        within_margin_power,
    )

    rng = np.random.default_rng(0)
    a, b = rng.random(1000) < 0.1, rng.random(1000) < 0.09
    n10, n01 = discordant(a, b)
    assert (n10, n01) == (int((a & ~b).sum()), int((~a & b).sum()))
    assert paired_from_counts(n10, n01, 1000) == paired_difference(a, b)
    # 1,000 samples with 10 % discordant cannot show "within 1 pt" at a true 0.5 pt
    low = within_margin_power(1000, 0.10, 0.005)
    high = within_margin_power(5000, 0.10, 0.005)
    assert low < 0.1 < high < 0.3  # 5x the samples: still only 20 % power at 0.5 pt
    assert within_margin_power(5000, 0.10, 0.0) > high
    assert within_margin_power(5000, 0.10, 0.02) < 0.01
    with pytest.raises(ValueError):
        paired_from_counts(5, 5, 8)
