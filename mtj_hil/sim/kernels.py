"""The simulator's numeric kernels: the crossbar product in cache-sized blocks with the range
of the voltages read, and the thermal-activation switching probability of a pulse."""

from __future__ import annotations

import threading

import numpy as np
from scipy.linalg.blas import dgemm as _dgemm

PRODUCT_BLOCK = 1024
"""Input vectors per block of the crossbar product (a block of voltages stays in cache)."""

_SCRATCH = threading.local()
"""Per-thread work buffers of the blocked product, kept between reads: a fresh buffer of a
few hundred kB per read costs page faults that can take longer than the product itself."""


def _scratch(rows: int, cols: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Three work buffers, ``(PRODUCT_BLOCK, rows)`` twice and ``(PRODUCT_BLOCK, cols)``, of
    this thread."""
    key = (rows, cols)
    bufs = getattr(_SCRATCH, "bufs", None)
    if bufs is None or bufs[0] != key:
        bufs = _SCRATCH.bufs = (
            key,
            np.empty((PRODUCT_BLOCK, rows)),
            np.empty((PRODUCT_BLOCK, rows)),
            np.empty((PRODUCT_BLOCK, cols)),
        )
    return bufs[1], bufs[2], bufs[3]


def product_and_range(
    voltages: np.ndarray,
    g: np.ndarray,
    gain: np.ndarray | None = None,
    extra: np.ndarray | None = None,
    gk: np.ndarray | None = None,
    bounds: tuple[float, float] | None = None,
) -> tuple[np.ndarray, float, float]:
    """``voltages @ g`` (plus ``voltages**3 @ gk`` when given, then times ``gain`` plus
    ``extra`` when given) and the smallest and largest voltage (NaN if any is NaN;
    ``bounds`` gives them when the caller has them already).

    Computed in blocks of ``PRODUCT_BLOCK`` vectors so each block of voltages and currents
    is scanned, cubed and scaled while in cache; per element the operations are those of the
    unblocked sequence (product, cubic term added, gain, extra), so both give equal numbers.

    One exception, for the cost of the cubic term: a block whose voltages all have the
    read's largest magnitude ``u`` or are 0 (a binary network's inputs, ``+-V_read``) has
    ``v**3 = u**2 v``, so its currents are one product with ``g + u**2 gk``. That equals the
    two products up to rounding (a few ulp), and costs one. After the first block with
    another magnitude, the rest of the read is not checked; analog inputs are told apart by
    their extremes and a few samples before the first block.
    """
    n = voltages.shape[0]
    if n <= PRODUCT_BLOCK and gain is None and gk is None:
        current = voltages @ g
        if not n:
            return current, 0.0, 0.0
        return current, float(voltages.min()), float(voltages.max())
    current = np.empty((n, g.shape[1]))
    if not n:
        return current, 0.0, 0.0
    if bounds is None:
        bounds = float(voltages.min()), float(voltages.max())  # one pass each, NaN kept
    lowest, highest = bounds
    cube, gap, term = _scratch(voltages.shape[1], g.shape[1])
    gk_t = None if gk is None else np.asarray(gk, np.float64).T
    folded: tuple[float, np.ndarray] | None = None  # (u**2, g + u**2 gk) of the last block
    # a block can have one magnitude only if the whole read's extremes allow it
    try_fold = gk is not None and _may_have_one_magnitude(voltages, lowest, highest)
    peak2 = max(-lowest, highest) ** 2
    for start in range(0, n, PRODUCT_BLOCK):
        stop = start + PRODUCT_BLOCK
        block = voltages[start:stop]
        out = current[start:stop]
        if gk is None:
            np.matmul(block, g, out=out)
        else:
            c = cube[: block.shape[0]]
            np.multiply(block, block, out=c)
            u2 = None
            if try_fold:
                u2 = _one_magnitude(c, gap[: block.shape[0]], peak2)
                try_fold = u2 is not None
            if u2 is None:
                np.matmul(block, g, out=out)
                c *= block
                _add_product(c, gk_t, out, term)
            else:
                if folded is None or folded[0] != u2:
                    folded = (u2, g + u2 * np.asarray(gk, np.float64))
                np.matmul(block, folded[1], out=out)
        if gain is not None:
            out *= gain[start:stop]
        if extra is not None:
            out += extra[start:stop]
    return current, lowest, highest


def _may_have_one_magnitude(voltages: np.ndarray, lowest: float, highest: float) -> bool:
    """False when the read (V) surely has more than one nonzero magnitude: extremes that
    differ in size or are not finite, or one of a few samples neither 0 nor the peak."""
    peak = max(-lowest, highest)
    if not 0.0 < peak < np.inf or (lowest < 0.0 < highest and -lowest != highest):
        return False
    flat = voltages.reshape(-1)
    picks = flat[:: max(1, flat.size // 8)][:8]
    return bool(np.all((picks == 0.0) | (np.abs(picks) == peak)))


def _one_magnitude(squares: np.ndarray, work: np.ndarray, m: float) -> float | None:
    """The one nonzero value of ``squares`` (V^2, a block of squared voltages) if every
    element is it or 0, else None (also for NaN). ``work`` is a buffer of the same shape;
    ``m`` a square at least as large as any of them (V^2: the read's largest magnitude,
    squared).

    Each ``s (m - s)`` is >= 0 for ``0 <= s <= m``, so their sum is 0 exactly when every
    ``s`` is 0 or ``m``; one subtraction and one BLAS dot product decide it."""
    flat = squares.ravel()
    if len({float(flat[i]) for i in (0, flat.size // 2, -1)} - {0.0}) > 1:
        return None  # analog inputs: settled by three samples, no pass over the block
    m = float(m)
    if not 0.0 < m < np.inf:
        return None  # all zero (the plain route is as cheap), NaN or infinite
    np.subtract(m, squares, out=work)
    if float(np.dot(flat, work.ravel())) != 0.0:
        return None
    return m


def _add_product(a: np.ndarray, b_t: np.ndarray, out: np.ndarray, work: np.ndarray) -> None:
    """``out += a @ b`` (``b_t`` is ``b.T``) in one BLAS call that accumulates into ``out``
    (``dgemm`` with ``beta = 1``: no product array, no separate addition pass). Per element
    it is the sum over ``k`` added to ``out`` once, the numbers of ``out += a @ b``; a
    layout BLAS cannot update in place takes that plain route."""
    if out.flags.c_contiguous and a.flags.c_contiguous and b_t.flags.f_contiguous:
        done = _dgemm(1.0, b_t, a.T, beta=1.0, c=out.T, overwrite_c=1)
        if np.may_share_memory(done, out):
            return
    t = work[: a.shape[0]]
    np.matmul(a, b_t.T, out=t)
    out += t


def switch_probability(
    amplitude: float, width: float, vc: np.ndarray, sw, delta: np.ndarray | None = None
) -> np.ndarray:
    """Thermal activation: P = 1 - exp(-t / tau), tau = tau0 exp(delta (1 - V / Vc)), with
    each device's own ``delta`` (the profile's ``switching.delta`` if not given)."""
    delta = sw.delta if delta is None else delta
    exponent = np.minimum(delta * (1.0 - amplitude / vc), 700.0)
    rate_t = width / (sw.tau0 * np.exp(exponent))
    return -np.expm1(-rate_t)
