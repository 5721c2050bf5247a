"""Exact nodal solve of a passive crossbar with line resistance.

Circuit: input line ``i`` is driven at its left end through one line segment; output line
``j`` ends in a virtual ground (the sense amplifier) below its last row. Every cell sits
between its row-line node and its column-line node, and neighbouring nodes along a line are
joined by one segment of ``r_line`` ohms. The output currents are linear in the input
voltages, so the whole circuit reduces to an effective conductance matrix ``G_eff``
(rows x cols) with ``I = V @ G_eff``: one banded factorisation per programmed state, then a
batch of reads is a single matrix product.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import solveh_banded


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
    # Nodes interleaved cell by cell (cell c = i * cols + j: its row-line node 2c, its
    # column-line node 2c + 1), so every coupling spans at most 2 * cols nodes: the
    # symmetric positive-definite system is banded and solved by a banded Cholesky
    # factorisation (LAPACK ?pbsv), O(nodes * cols**2), instead of a general sparse LU.
    n = rows * cols
    width = 2 * cols
    band = np.zeros((width + 1, 2 * n))  # lower form: band[d, k] = A[k + d, k]
    diag = band[0]
    row_node = 2 * np.arange(n).reshape(rows, cols)
    col_node = row_node + 1
    cell = g.ravel()
    diag[row_node.ravel()] += cell  # the cells, row node to column node
    diag[col_node.ravel()] += cell
    band[1, row_node.ravel()] = -cell
    seg = row_node[:, :-1].ravel()  # input-line segments, (i, j) to (i, j + 1)
    diag[seg] += gl
    diag[seg + 2] += gl
    band[2, seg] = -gl
    seg = col_node[:-1, :].ravel()  # output-line segments, (i, j) to (i + 1, j)
    diag[seg] += gl
    diag[seg + width] += gl
    band[width, seg] = -gl
    diag[row_node[:, 0]] += gl  # segment from each driver to the first cell
    diag[col_node[-1, :]] += gl  # segment from the last cell to virtual ground

    rhs = np.zeros((2 * n, rows))
    rhs[row_node[:, 0], np.arange(rows)] = gl  # unit volt on each input line in turn
    node_v = solveh_banded(band, rhs, lower=True, check_finite=False)
    return (gl * node_v[col_node[-1, :], :]).T
