"""The simulator's numeric kernels: the crossbar product in cache-sized blocks with the range
of the voltages read, and the thermal-activation switching probability of a pulse."""

from __future__ import annotations

import numpy as np

PRODUCT_BLOCK = 1024
"""Input vectors per block of the crossbar product (a block of voltages stays in cache)."""


def product_and_range(
    voltages: np.ndarray,
    g: np.ndarray,
    gain: np.ndarray | None = None,
    extra: np.ndarray | None = None,
) -> tuple[np.ndarray, float, float]:
    """``voltages @ g`` (times ``gain`` plus ``extra`` when given) and the smallest and
    largest voltage (NaN if any is NaN), computed in blocks of ``PRODUCT_BLOCK`` vectors so
    each block of voltages and currents is scanned while in cache."""
    n = voltages.shape[0]
    if n <= PRODUCT_BLOCK and gain is None:
        current = voltages @ g
        if not n:
            return current, 0.0, 0.0
        return current, float(voltages.min()), float(voltages.max())
    current = np.empty((n, g.shape[1]))
    lows, highs = [], []
    for start in range(0, n, PRODUCT_BLOCK):
        stop = start + PRODUCT_BLOCK
        block = voltages[start:stop]
        out = current[start:stop]
        np.matmul(block, g, out=out)
        lows.append(block.min())
        highs.append(block.max())
        if gain is not None and extra is not None:
            out *= gain[start:stop]
            out += extra[start:stop]
    return current, float(np.min(lows)), float(np.max(highs))


def switch_probability(
    amplitude: float, width: float, vc: np.ndarray, sw, delta: np.ndarray | None = None
) -> np.ndarray:
    """Thermal activation: P = 1 - exp(-t / tau), tau = tau0 exp(delta (1 - V / Vc)), with
    each device's own ``delta`` (the profile's ``switching.delta`` if not given)."""
    delta = sw.delta if delta is None else delta
    exponent = np.minimum(delta * (1.0 - amplitude / vc), 700.0)
    rate_t = width / (sw.tau0 * np.exp(exponent))
    return -np.expm1(-rate_t)
