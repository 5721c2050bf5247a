"""Read noise of a simulated die: a relative gain and an additive term per output line and read."""

from __future__ import annotations

from typing import Any

import numpy as np

SimulatedDie = Any
"""A :class:`mtj_hil.sim.die.SimulatedDie` (not imported: the die imports this module)."""

NOISE_TABLE_SIZE = 1 << 19
"""Normals per table of the per-die noise tables that large reads take windows of."""


def draw_read_noise(
    die: SimulatedDie, array: int, shape: tuple[int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """Read noise for one read: a relative gain ``1 + noise_rel * N`` and an additive
    term ``noise_abs * N'`` (A), independent standard normals ``N``, ``N'``.

    Drawing normals costs several times the crossbar product itself, so large reads take
    a window at a random offset of two tables drawn once per die (values within one read
    are independent; windows of different reads may overlap). Small reads draw afresh.
    """
    rd = die.profile.read
    rng = die.array_rngs[array]
    n = shape[0] * shape[1]
    if n < 4096 or n > NOISE_TABLE_SIZE // 2:
        # One call for both (the same numbers as two calls: gain first, then extra).
        normals = rng.standard_normal((2, *shape))
        gain = normals[0]
        gain *= rd.noise_rel
        gain += 1.0
        extra = normals[1]
        extra *= rd.noise_abs
        return gain, extra
    if die._noise_tables is None:
        table_rng = np.random.default_rng([*die.seed_spawn_key, int(die.seed_entropy), 7])
        normals = table_rng.standard_normal((2, NOISE_TABLE_SIZE))
        normals[0] *= rd.noise_rel
        normals[0] += 1.0
        normals[1] *= rd.noise_abs
        die._noise_tables = normals
    start = int(rng.integers(0, NOISE_TABLE_SIZE - n + 1))
    window = die._noise_tables[:, start : start + n]
    return window[0].reshape(shape), window[1].reshape(shape)
