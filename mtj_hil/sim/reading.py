"""One crossbar read of a simulated die: product, bias term, range check, disturb and noise.

:meth:`mtj_hil.sim.die.SimulatedDie.read` documents the physics; this module computes it.
Small reads (at most :data:`~mtj_hil.sim.kernels.PRODUCT_BLOCK` vectors, those of
conductance maps) cost mostly the read noise's normals, so they take the shortest path in
Python; large reads fuse the cubic term and the noise into the blocked product
(:func:`~mtj_hil.sim.kernels.product_and_range`).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mtj_hil.protocols.read import one_hot_level
from mtj_hil.sim.dynamics import read_factor
from mtj_hil.sim.kernels import PRODUCT_BLOCK, product_and_range

SimulatedDie = Any
"""A :class:`mtj_hil.sim.die.SimulatedDie` (not imported: the die imports this module)."""


def read_die(
    die: SimulatedDie,
    array: int,
    voltages: np.ndarray,
    check: Callable[[float, float], None] | None = None,
) -> np.ndarray:
    """Output-line currents (A, ``(batch, cols)``) of ``array`` for input voltages (V,
    ``(batch, rows)``, float64); see :meth:`mtj_hil.sim.die.SimulatedDie.read`.

    Raises:
        whatever ``check`` raises (then nothing random was drawn and no device touched).
    """
    profile = die.profile
    rd = profile.read
    g0 = die.effective_conductance(array)
    g = g0
    noisy = rd.noise_rel > 0 or rd.noise_abs > 0
    n = voltages.shape[0]
    timed = profile.drift is not None or die.rtn_has is not None
    if timed and check is not None and voltages.size:
        # refuse before the telegraph traps advance (nothing is touched by a refused read)
        check(float(voltages.min()), float(voltages.max()))
        check = None
    factor = read_factor(die, array) if timed else None
    if factor is not None:
        g = g * factor  # drift and telegraph noise on top of the cached conductance
    gk = None
    if die.k_p is not None:
        gk = die._cubic_conductance(array, g0)
        if factor is not None:
            gk = gk * factor
    if n > PRODUCT_BLOCK:
        # Large reads: checked on their extremes first (nothing drawn for a refused read),
        # then the cubic term and the noise are applied block by block while each block is
        # in cache.
        lowest, highest = float(voltages.min()), float(voltages.max())
        if check is not None:
            check(lowest, highest)
        gain, extra = die._noise(array, (n, g.shape[1])) if noisy else (None, None)
        current = product_and_range(voltages, g, gain, extra, gk, (lowest, highest))[0]
    else:
        hot = one_hot_level(voltages) if factor is None else None
        if hot is not None:
            # a conductance map's reads: each vector raises one line to the level
            level, repeats = hot
            rows = voltages.shape[1]
            lowest, highest = (level, level) if rows == 1 else (min(level, 0.0), max(level, 0.0))
            if check is not None:
                check(lowest, highest)
            base = _one_hot_currents(die, array, g0, gk, level)
            current = np.tile(base, (repeats, 1)) if repeats > 1 else base.copy()
        else:
            current = voltages @ g
            if n:
                lowest, highest = float(voltages.min()), float(voltages.max())
            else:
                lowest = highest = 0.0
            if check is not None:
                check(lowest, highest)
            if gk is not None:
                cube = voltages * voltages
                cube *= voltages
                current += cube @ gk
        if noisy:
            gain, extra = die._noise(array, current.shape)
            current *= gain
            current += extra
    # (the noise of a small read is drawn before read disturb's: they are separate streams)
    die.clock += die._clock.read_vector_time * n
    if rd.read_width > 0 and voltages.size:
        die._read_disturb(array, voltages, (lowest, highest))
    if rd.offset_sigma > 0:
        current += die.sense_offset[array]
    if rd.adc_bits:
        lsb = 2.0 * rd.adc_full_scale / 2**rd.adc_bits
        np.clip(current, -rd.adc_full_scale, rd.adc_full_scale - lsb, out=current)
        current = np.round(current / lsb) * lsb
    return current


def _one_hot_currents(
    die: SimulatedDie, array: int, g0: np.ndarray, gk: np.ndarray | None, level: float
) -> np.ndarray:
    """Noise-free currents (A, ``(rows, cols)``) of reading each input line alone at
    ``level`` (V), cached with the conductance ``g0`` they belong to (a pulse replaces it).

    The numbers of the product: row ``r`` of ``V @ G`` for ``V = level * I`` is
    ``level * G[r]`` plus exact zeros (``0 * G`` adds nothing), and the cubic term likewise
    ``(level * level * level) * Gk[r]``; their sum is the sum the product route forms."""
    cached = die._one_hot.get(array)
    if cached is not None and cached[0] is g0 and cached[1] == level:
        return cached[2]
    base = level * g0
    if gk is not None:
        base += (level * level * level) * gk
    die._one_hot[array] = (g0, level, base)
    return base
