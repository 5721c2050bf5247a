"""The two-sample Kolmogorov-Smirnov test of a few devices against many, without sorting the many.

:func:`ks_two_sided` gives ``scipy.stats.ks_2samp(small, large)``'s statistic and p-value
bit for bit where scipy takes its asymptotic p-value (more than ``ASYMPTOTIC_FROM`` values in
the larger sample); otherwise it calls scipy. scipy sorts both samples and evaluates both
empirical CDFs at every value; the statistic only needs them where they can peak:

- ``F_small - F_large`` is largest at a value of the small sample (between two of them
  ``F_small`` is flat while ``F_large`` grows; below the first it is at most 0, and at the
  last it is at least 0);
- ``F_small - F_large`` is smallest at a value of the small sample or at the largest value of
  the large sample below the next value of the small one (same argument, roles swapped).

Both need only counts of the large sample against the few values of the small one (compared
with each of them, or for many a binary search of each large value among them), and the
differences are formed from the same integer counts with the same divisions as scipy's.
Used by :func:`mtj_hil.protocols.defects.diagnostics.held_out_levels`.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import ks_2samp, kstwo

FEW = 64
"""Up to this many values in the small sample the large one is compared with each of them;
beyond, each large value is searched for among them."""
BLOCK = 65_536
"""Bytes of a comparison work array (larger ones cost page faults)."""
ASYMPTOTIC_FROM = 10_000
"""scipy's ``MAX_AUTO_N``: up to this many values in the larger sample it computes the exact
p-value (then it is called itself)."""


def ks_two_sided(small: np.ndarray, large: np.ndarray) -> tuple[float, float]:
    """KS distance and two-sided p-value of the finite 1-d samples ``small`` and ``large``
    as ``scipy.stats.ks_2samp(small, large)`` gives them (an empty sample: scipy's NaN).
    """
    small = np.asarray(small, dtype=float)
    large = np.asarray(large, dtype=float)
    n1, n2 = small.size, large.size
    if max(n1, n2) <= ASYMPTOTIC_FROM or n1 > n2 or n1 == 0:
        res = ks_2samp(small, large)
        return float(res.statistic), float(res.pvalue)
    a = np.sort(small)
    f1_at_a = np.searchsorted(a, a, side="right")
    if n1 <= FEW:  # comparisons, a few small values at a time (binary searches mispredict)
        f2_at_a, f2_below = _counts(a, large)
    else:
        # #{a < y}: y <= a[i] iff it is at most #{a < a[i]}; #{a <= y}: y < a[i] iff below i
        left = np.cumsum(np.bincount(np.searchsorted(a, large, side="left"), minlength=n1 + 1))
        f2_at_a = left[np.searchsorted(a, a, side="left")]  # #{large <= a[i]}
        right = np.cumsum(np.bincount(np.searchsorted(a, large, side="right"), minlength=n1 + 1))
        f2_below = right[:n1]  # #{large < a[i]}
    at_a = f1_at_a / n1 - f2_at_a / n2
    # the large values with the same F_small = r (between a[r - 1] and a[r]): the largest of
    # them has F_large = #{large < a[r]} (all of them for r = n1)
    upto = np.append(f2_below, n2)
    held = np.flatnonzero(np.diff(upto, prepend=0))
    at_large = held / n1 - upto[held] / n2
    max_s = at_a.max()
    min_s = np.clip(-min(at_a.min(), at_large.min()), 0, 1)
    d = min_s if min_s > max_s else max_s
    en = float(n2) * float(n1) / (float(n2) + float(n1))
    prob = np.clip(kstwo.sf(d, np.round(en)), 0, 1)
    return float(np.float64(d)), float(prob)


def _counts(a: np.ndarray, large: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``#{large <= a[i]}`` and ``#{large < a[i]}`` for every value of ``a``, comparing
    ``large`` with a block of them at a time (work arrays of at most ``BLOCK`` bytes)."""
    rows = max(1, BLOCK // max(large.size, 1))
    at, below = np.empty(a.size, np.intp), np.empty(a.size, np.intp)
    for start in range(0, a.size, rows):
        part = a[start : start + rows, None]
        at[start : start + rows] = np.count_nonzero(large[None, :] <= part, axis=1)
        below[start : start + rows] = np.count_nonzero(large[None, :] < part, axis=1)
    return at, below
