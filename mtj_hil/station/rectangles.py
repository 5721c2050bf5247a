"""Covering a cell mask with rectangles: the write pulses :class:`~mtj_hil.station.chip.
InstrumentChip` sends (one ``EN`` + ``PULSE`` per rectangle)."""

from __future__ import annotations

import numpy as np

__all__ = ["rectangles"]


def rectangles(mask: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """Cover a cell mask exactly with (rows, cols) rectangles, one pulse each.

    Rows with the same column pattern share a rectangle (and, transposed, columns with the
    same row pattern); whichever needs fewer pulses is returned.
    """

    def by_rows(m: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        groups: dict[bytes, list[int]] = {}
        for r in np.flatnonzero(m.any(axis=1)):
            groups.setdefault(m[r].tobytes(), []).append(int(r))
        rows_n = m.shape[0]
        out = []
        for rows in groups.values():
            row_mask = np.zeros(rows_n, bool)
            row_mask[rows] = True
            out.append((row_mask, m[rows[0]].copy()))
        return out

    a = by_rows(mask)
    b = [(r, c) for c, r in by_rows(mask.T)]
    return a if len(a) <= len(b) else b
