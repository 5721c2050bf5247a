"""Exact nodal solve of a passive crossbar with line resistance.

Circuit: input line ``i`` is driven at its left end through one line segment; output line
``j`` ends in a virtual ground (the sense amplifier) below its last row. Every cell sits
between its row-line node and its column-line node, and neighbouring nodes along a line are
joined by one segment of ``r_line`` ohms. The output currents are linear in the input
voltages, so the whole circuit reduces to an effective conductance matrix ``G_eff``
(rows x cols) with ``I = V @ G_eff``: one sparse factorisation per programmed state, then a
batch of reads is a single matrix product.
"""

from __future__ import annotations

import numpy as np
import scipy.sparse as sp
from scipy.sparse.linalg import splu


def effective_conductance(g: np.ndarray, r_line: float) -> np.ndarray:
    """Effective conductance matrix (S) of a crossbar with cell conductances ``g`` (S).

    Args:
        g: cell conductances, shape ``(rows, cols)``, all > 0.
        r_line: resistance of one line segment between adjacent cells (ohm). Zero returns
            ``g`` unchanged (ideal lines).

    Returns:
        ``G_eff`` of shape ``(rows, cols)``: output current of column ``j`` is
        ``sum_i V_i * G_eff[i, j]``.

    Raises:
        ValueError: ``r_line`` negative or ``g`` not strictly positive.
    """
    g = np.asarray(g, dtype=float)
    if r_line < 0:
        raise ValueError(f"line resistance must be >= 0 ohm, got {r_line}")
    if r_line == 0:
        return g.copy()
    if np.any(g <= 0):
        raise ValueError("cell conductances must be > 0 S for the nodal solve")
    rows, cols = g.shape
    gl = 1.0 / r_line
    n = rows * cols
    row_node = np.arange(n).reshape(rows, cols)
    col_node = n + row_node

    diag = np.zeros(2 * n)
    i_idx: list[np.ndarray] = []
    j_idx: list[np.ndarray] = []
    vals: list[np.ndarray] = []

    def couple(a: np.ndarray, b: np.ndarray, gab: np.ndarray | float) -> None:
        gab = np.broadcast_to(gab, a.shape).ravel()
        a, b = a.ravel(), b.ravel()
        np.add.at(diag, a, gab)
        np.add.at(diag, b, gab)
        i_idx.extend([a, b])
        j_idx.extend([b, a])
        vals.extend([-gab, -gab])

    couple(row_node, col_node, g)  # the cells
    couple(row_node[:, :-1], row_node[:, 1:], gl)  # input-line segments
    couple(col_node[:-1, :], col_node[1:, :], gl)  # output-line segments
    diag[row_node[:, 0]] += gl  # segment from each driver to the first cell
    diag[col_node[-1, :]] += gl  # segment from the last cell to virtual ground

    off = sp.coo_matrix(
        (np.concatenate(vals), (np.concatenate(i_idx), np.concatenate(j_idx))),
        shape=(2 * n, 2 * n),
    )
    a = (off + sp.diags(diag)).tocsc()
    rhs = np.zeros((2 * n, rows))
    rhs[row_node[:, 0], np.arange(rows)] = gl  # unit volt on each input line in turn
    node_v = splu(a).solve(rhs)
    return (gl * node_v[col_node[-1, :], :]).T
