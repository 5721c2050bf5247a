"""Confidence intervals for error rates (fractions in [0, 1])."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Interval:
    """An estimate and its confidence interval (same unit as the estimate)."""

    value: float
    low: float
    high: float

    def percent(self, digits: int = 2) -> str:
        """``"9.10 [7.4, 11.0] %"`` style text for fractions."""
        return f"{100 * self.value:.{digits}f} [{100 * self.low:.1f}, {100 * self.high:.1f}] %"


def binomial_ci(errors: int, n: int, level: float = 0.95) -> Interval:
    """Clopper-Pearson (exact) interval of an error rate from ``errors`` out of ``n`` samples.

    Raises:
        ValueError: ``n`` < 1 or ``errors`` outside 0..n.
    """
    if n < 1 or not 0 <= errors <= n:
        raise ValueError(f"need 0 <= errors <= n and n >= 1, got {errors} of {n}")
    alpha = 1.0 - level
    low = 0.0 if errors == 0 else float(stats.beta.ppf(alpha / 2, errors, n - errors + 1))
    high = 1.0 if errors == n else float(stats.beta.ppf(1 - alpha / 2, errors + 1, n - errors))
    return Interval(errors / n, low, high)


def mean_ci(values: np.ndarray, level: float = 0.95) -> Interval:
    """Student-t interval of the mean of per-die values (a single value gives a zero-width
    interval).

    Raises:
        ValueError: no finite values.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("no finite values to average")
    m = float(v.mean())
    if v.size < 2:
        return Interval(m, m, m)
    half = float(stats.t.ppf(0.5 + level / 2, v.size - 1) * v.std(ddof=1) / np.sqrt(v.size))
    return Interval(m, m - half, m + half)


def bootstrap_ci(
    values: np.ndarray, rng: np.random.Generator, level: float = 0.95, resamples: int = 10_000
) -> Interval:
    """Percentile bootstrap interval of the mean of ``values``.

    Raises:
        ValueError: no finite values.
    """
    v = np.asarray(values, dtype=np.float64)
    v = v[np.isfinite(v)]
    if v.size == 0:
        raise ValueError("no finite values to average")
    means = v[rng.integers(0, v.size, size=(resamples, v.size))].mean(axis=1)
    lo, hi = np.quantile(means, [0.5 - level / 2, 0.5 + level / 2])
    return Interval(float(v.mean()), float(lo), float(hi))


def paired_difference(wrong_a: np.ndarray, wrong_b: np.ndarray, level: float = 0.95) -> Interval:
    """Difference of error rates ``a - b`` measured on the same samples, with the Wald interval
    of paired proportions (only the samples on which ``a`` and ``b`` disagree carry variance).

    Args:
        wrong_a, wrong_b: boolean per sample, True where the method got it wrong.

    Raises:
        ValueError: the arrays differ in shape or are empty.
    """
    a = np.asarray(wrong_a, dtype=bool)
    b = np.asarray(wrong_b, dtype=bool)
    if a.shape != b.shape or a.size == 0:
        raise ValueError(f"need two equally long non-empty samples, got {a.shape} and {b.shape}")
    n = a.size
    diff = float(np.count_nonzero(a & ~b) - np.count_nonzero(~a & b)) / n
    var = max(float(np.count_nonzero(a ^ b)) / n - diff * diff, 0.0) / n
    half = float(stats.norm.ppf(0.5 + level / 2)) * np.sqrt(var)
    return Interval(diff, diff - half, diff + half)


def discordant(wrong_a: np.ndarray, wrong_b: np.ndarray) -> tuple[int, int]:
    """``(a wrong and b right, a right and b wrong)`` sample counts (the only samples that
    carry information on ``a - b``).

    Raises:
        ValueError: the arrays differ in shape.
    """
    a = np.asarray(wrong_a, dtype=bool)
    b = np.asarray(wrong_b, dtype=bool)
    if a.shape != b.shape:
        raise ValueError(f"need two equally long samples, got {a.shape} and {b.shape}")
    return int(np.count_nonzero(a & ~b)), int(np.count_nonzero(~a & b))


def paired_from_counts(n10: int, n01: int, n: int, level: float = 0.95) -> Interval:
    """:func:`paired_difference` from discordant counts over ``n`` samples (e.g. counts summed
    over disjoint test folds of one die).

    Raises:
        ValueError: ``n`` < 1 or counts outside 0..n.
    """
    if n < 1 or min(n10, n01) < 0 or n10 + n01 > n:
        raise ValueError(f"need 0 <= n10 + n01 <= n and n >= 1, got {n10}, {n01}, {n}")
    diff = (n10 - n01) / n
    var = max((n10 + n01) / n - diff * diff, 0.0) / n
    half = float(stats.norm.ppf(0.5 + level / 2)) * np.sqrt(var)
    return Interval(diff, diff - half, diff + half)


def within_margin_power(
    n: int, discordant_rate: float, true_diff: float, margin: float = 0.01, level: float = 0.95
) -> float:
    """Power of the claim "within ``margin`` of the baseline": the probability that the paired
    ``level`` interval's upper bound falls below ``margin`` when the true difference is
    ``true_diff`` (fractions), with ``n`` paired samples of which ``discordant_rate`` disagree
    (normal approximation of :func:`paired_difference`).

    Raises:
        ValueError: ``n`` < 1 or a rate outside [0, 1].
    """
    if n < 1 or not 0.0 <= discordant_rate <= 1.0:
        raise ValueError(f"need n >= 1 and a discordant rate in [0, 1], got {n}, {discordant_rate}")
    var = max(discordant_rate - true_diff * true_diff, 1.0 / n) / n
    z = float(stats.norm.ppf(0.5 + level / 2))
    return float(stats.norm.cdf((margin - true_diff) / np.sqrt(var) - z))
