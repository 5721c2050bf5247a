"""A die's per-array maps tiled into one image (arrays side by side, in plan order)."""

from __future__ import annotations

import numpy as np


def mosaic(maps: np.ndarray, per_row: int, fill: float = np.nan) -> np.ndarray:
    """Tile a stack of maps ``(n, rows, cols)`` into one image, ``per_row`` maps across (map
    ``k`` in tile row ``k // per_row``, tile column ``k % per_row``), with a one-pixel gap
    filled with ``fill``."""
    n, rows, cols = maps.shape
    grid_rows = -(-n // per_row)
    out = np.full((grid_rows * (rows + 1) - 1, per_row * (cols + 1) - 1), fill, dtype=float)
    for k in range(n):
        r, c = divmod(k, per_row)
        out[r * (rows + 1) : r * (rows + 1) + rows, c * (cols + 1) : c * (cols + 1) + cols] = maps[
            k
        ]
    return out
