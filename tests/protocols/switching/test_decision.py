"""State reads as decisions: the rule, and its noise model against the virtual board."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mtj_hil.protocols.switching.decision import (
    DEFAULT_BOUND,
    choose_integration,
    margins,
    misread_probability,
    noise_upper,
    read_noise,
)


def _noise(sigma_at_1ms: float, floor: float = 0.0):
    """A noise model: white noise falling as 1/sqrt(t) plus a floor (A); many samples."""
    calls = []

    def noise_at(t: float) -> tuple[np.ndarray, int]:
        calls.append(t)
        return np.full(4, np.hypot(sigma_at_1ms * np.sqrt(1e-3 / t), floor)), 10_000

    return noise_at, calls


def test_the_rule_takes_the_shortest_integration_that_keeps_the_bound():
    m = np.array([[5e-6, 3e-6, 2e-6, np.nan]])  # worst margin 2 uA
    noise_at, calls = _noise(1e-7)
    rule = choose_integration(m, noise_at)
    tried = list(calls)
    assert rule.integration is not None
    assert rule.misread <= DEFAULT_BOUND
    shorter = [t for t in tried if t < rule.integration]
    for t in shorter:  # every shorter candidate tried failed the bound
        sigma = noise_upper(*noise_at(t))
        assert misread_probability(m, sigma) > DEFAULT_BOUND
    assert tried == sorted(tried) and tried[-1] == rule.integration  # stops at the first pass
    # the bound is what the worst cell sees: z = margin / sigma >= 4.75 for 1e-6
    assert rule.worst_margin / rule.sigma >= stats.norm.isf(DEFAULT_BOUND)


def test_a_tighter_bound_or_smaller_margins_need_longer_integrations():
    noise_at, _ = _noise(1e-7)
    m = np.full((3, 4), 2e-6)
    loose = choose_integration(m, noise_at, bound=1e-3).integration
    tight = choose_integration(m, noise_at, bound=1e-9).integration
    small = choose_integration(m / 2, noise_at).integration
    base = choose_integration(m, noise_at).integration
    assert loose <= base <= tight and base <= small


def test_no_integration_meets_the_bound_then_precision_reads_are_kept():
    noise_at, _ = _noise(1e-7, floor=1e-6)  # a noise floor no integration removes
    rule = choose_integration(np.full((2, 4), 2e-6), noise_at)
    assert rule.integration is None and np.isnan(rule.misread)
    with pytest.raises(ValueError):
        choose_integration(np.ones(3), noise_at, bound=0.0)


def test_a_cell_on_the_wrong_side_never_passes():
    noise_at, _ = _noise(1e-12)
    assert choose_integration(np.array([[1e-6, -1e-9, 1e-6, 1e-6]]), noise_at).integration is None


def test_margins_and_noise_estimates():
    g_p = np.full((2, 2), 233e-6)
    g_ap = np.full((2, 2), 133e-6)
    use = np.array([[True, False], [True, True]])
    m = margins(g_p, g_ap, use, 176e-6, 0.1, precision_sigma=1e-7)
    assert m.shape == (2, 2, 2) and np.isnan(m[:, 0, 1]).all()
    assert np.allclose(m[1][use], (176e-6 - 133e-6) * 0.1 - 3e-7)
    rng = np.random.default_rng(1)
    line_sigma = np.linspace(1e-7, 3e-7, 25)  # each output line its own noise
    reads = rng.normal(0, 1, (8, 25, 25)) * line_sigma
    sigma, n = read_noise(reads, np.ones((25, 25), bool))
    assert n == 4 * 25 and sigma.shape == (25,)
    assert np.allclose(sigma, line_sigma, rtol=0.3)
    assert np.all(noise_upper(sigma, n) > sigma) and noise_upper(1.0, 10**6) < 1.01
    # the noisiest line sets the bound
    assert misread_probability(np.full((1, 25), 1e-6), sigma) == pytest.approx(
        stats.norm.sf(1e-6 / sigma.max())
    )
