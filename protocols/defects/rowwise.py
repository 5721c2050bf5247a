"""Row-wise reductions over a short last axis (the classifier's five classes), computed
column by column: numpy reduces a 5-long contiguous axis one row at a time, which costs
several times the arithmetic. Results are bit-for-bit those of the plain numpy forms
(the same operations in the same order: a sequential sum and maximum over the axis)."""

from __future__ import annotations

import numpy as np


def row_max(x: np.ndarray) -> np.ndarray:
    """``x.max(axis=-1)`` (NaN propagates, as there)."""
    top = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        np.maximum(top, x[..., k], out=top)
    return top


def row_sum(x: np.ndarray) -> np.ndarray:
    """``x.sum(axis=-1)`` for a last axis shorter than 8 (numpy adds those in order)."""
    total = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        total += x[..., k]
    return total


def row_logaddexp(x: np.ndarray) -> np.ndarray:
    """``np.logaddexp.reduce(x, axis=-1)``."""
    total = x[..., 0].copy()
    for k in range(1, x.shape[-1]):
        np.logaddexp(total, x[..., k], out=total)
    return total


def softmax_rows(ll: np.ndarray) -> np.ndarray:
    """Posteriors from log prior x likelihood along the last axis (-inf allowed):
    ``exp(ll - max) / sum(exp(ll - max))``."""
    if ll.shape[-1] >= 8:  # numpy sums longer axes pairwise: keep its own form
        p = np.exp(ll - ll.max(axis=-1, keepdims=True))
        p /= p.sum(axis=-1, keepdims=True)
        return p
    p = ll - row_max(ll)[..., None]
    np.exp(p, out=p)
    p /= row_sum(p)[..., None]
    return p


def median_and_max_run(v: np.ndarray) -> tuple[float, int]:
    """``np.median(v)`` (bit for bit) and the largest number of times one value occurs in
    the non-empty 1-d ``v`` (as ``np.unique(v, return_counts=True)[1].max()``), from one
    sort."""
    s = np.sort(v)
    n = s.size
    med = s[n // 2] if n % 2 else (s[n // 2 - 1] + s[n // 2]) / 2.0
    edges = np.flatnonzero(s[1:] != s[:-1])
    runs = np.diff(np.concatenate(([-1], edges, [n - 1])))
    return float(med), int(runs.max())


def _buckets(v: np.ndarray, size: int) -> np.ndarray:
    """Each value's hash bucket (``size`` a power of two) from its bits (-0.0 as 0.0)."""
    bits = (np.asarray(v, dtype=np.float64) + 0.0).view(np.int64)
    return (bits ^ (bits >> 20) ^ (bits >> 40)) & (size - 1)


def distinct_at_least(v: np.ndarray) -> int:
    """A lower bound on the number of distinct values of the 1-d float array ``v`` (the hash
    buckets they fill: equal values share one), without a sort."""
    return int(np.count_nonzero(np.bincount(_buckets(v, 1 << 16), minlength=1 << 16)))


def may_tie(v: np.ndarray, share: float) -> bool:
    """False only if no value occurs in at least ``share`` of the 1-d float array ``v``
    (exact: the values are hashed to buckets by their bits, and a value occurs at most as
    often as its bucket fills); True means it may (then count exactly, e.g. with
    :func:`median_and_max_run`). Costs a few passes, against a sort."""
    v = np.asarray(v, dtype=np.float64)
    if np.little_endian:
        # bits 16..27 of each value, read in place: equal values (0.0 and -0.0 too, which
        # differ in the sign bit only) share them
        bits = np.ascontiguousarray(v).view(np.uint16)[1::4] & 4095
        return bool(np.bincount(bits, minlength=4096).max() >= share * v.size)
    return bool(np.bincount(_buckets(v, 4096), minlength=4096).max() >= share * v.size)


def nanmedian(x: np.ndarray, axis: int) -> np.ndarray:
    """``np.nanmedian(x, axis=axis)`` bit for bit (NaN where a slice has no value, without
    the warning) from one sort along the axis, without numpy's masked-array path for small
    axes."""
    s = np.sort(x, axis=axis)  # NaN last
    n = np.expand_dims((~np.isnan(x)).sum(axis=axis), axis)
    hi = np.take_along_axis(s, n // 2, axis=axis)
    lo = np.take_along_axis(s, np.maximum(n // 2 - 1, 0), axis=axis)
    out = np.where(n % 2 == 1, hi, (lo + hi) / 2.0)
    return np.squeeze(np.where(n > 0, out, np.nan), axis=axis)


MEDIAN_BRACKET = 3_000
"""From this many values on :func:`median` brackets (below, numpy's own partition is faster).
Timed on fresh data each call (a partition is branchy: repeating one array lets the branch
predictor learn it, flattering it several times): 250 against 140 us at 20,000 values, 1.36
against 0.55 ms at 120,000."""
MEDIAN_STRIDE = 12.0
"""Every ``max(5, sqrt(n) / MEDIAN_STRIDE)``-th value is in the sample that brackets the
median of ``n`` (600 values at 3,000, 1,800 at 20,000, 4,300 at 120,000: the cheapest
balance of the sample's partition against the bracket's, as timed)."""


def median(v: np.ndarray) -> float:
    """``np.median(v)`` (of the flattened ``v``), bit for bit, in a few passes: the
    middle order statistics are bracketed by a sample's quantiles, the bracket checked by
    counting, and only the values inside it partitioned (a failed bracket falls back to
    ``np.median``)."""
    v = np.asarray(v, dtype=float).ravel()
    n = v.size
    if n < MEDIAN_BRACKET or not np.isfinite(v).all():  # (NaN and inf: numpy's own rules)
        return float(np.median(v))
    sample = v[:: max(5, int(np.sqrt(n) / MEDIAN_STRIDE))]
    m = sample.size
    half = 3 * int(np.sqrt(m))
    i, j = max(m // 2 - half, 0), min(m // 2 + half, m - 1)
    ends = np.partition(sample, (i, j))
    lo, hi = ends[i], ends[j]
    below = int(np.count_nonzero(v < lo))
    mid = v[(v >= lo) & (v <= hi)]
    k1, k2 = (n - 1) // 2 - below, n // 2 - below
    if k1 < 0 or k2 >= mid.size:
        return float(np.median(v))
    part = np.partition(mid, (k1, k2))
    return float(part[k2] if n % 2 else (part[k1] + part[k2]) / 2.0)


def nanmedian_all(v: np.ndarray) -> float:
    """``np.nanmedian(v)`` over the whole array, bit for bit (the :func:`median` of its
    non-NaN values; NaN, without a warning, if there are none)."""
    v = np.asarray(v, dtype=float).ravel()
    v = v[~np.isnan(v)]
    return median(v) if v.size else float("nan")
