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
