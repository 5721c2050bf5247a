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
