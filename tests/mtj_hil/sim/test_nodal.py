"""The passive-array nodal solve against hand-computed circuits and the ideal limit."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.sim import SimulatedChip, make_die
from mtj_hil.sim.nodal import effective_conductance


def test_single_cell_is_a_series_circuit():
    g, r = 2e-4, 5.0
    # driver -> one row segment -> cell -> one column segment -> virtual ground
    assert effective_conductance(np.array([[g]]), r)[0, 0] == pytest.approx(1 / (2 * r + 1 / g))


def test_one_row_two_columns_by_hand():
    g0, g1, r = 3e-4, 1e-4, 20.0
    branch0 = 1 / (1 / g0 + r)  # cell 0 and its column segment to ground
    branch1 = 1 / (1 / g1 + r)
    via_b = 1 / (r + 1 / branch1)  # the row segment to node b, then cell 1
    v_a = 1 / (1 + r * (branch0 + via_b))  # 1 V behind the first row segment
    expected = [v_a * branch0, v_a * via_b]
    np.testing.assert_allclose(
        effective_conductance(np.array([[g0, g1]]), r)[0], expected, rtol=1e-12
    )


def test_two_rows_one_column_by_hand():
    g0, g1, r = 3e-4, 1e-4, 20.0
    # Column line: node 0 -(r)- node 1 -(r)- ground. Drive row 0 with 1 V, row 1 at 0 V.
    # Unknowns: row0 node x0, row1 node x1, col nodes c0, c1.
    gl = 1 / r
    a = np.array(
        [
            [gl + g0, 0, -g0, 0],
            [0, gl + g1, 0, -g1],
            [-g0, 0, g0 + gl, -gl],
            [0, -g1, -gl, g1 + 2 * gl],
        ]
    )
    geff = []
    for row in range(2):
        b = np.zeros(4)
        b[row] = gl
        x = np.linalg.solve(a, b)
        geff.append(gl * x[3])
    np.testing.assert_allclose(
        effective_conductance(np.array([[g0], [g1]]), r)[:, 0], geff, rtol=1e-12
    )


def test_zero_line_resistance_is_the_ideal_crossbar():
    g = np.random.default_rng(0).uniform(1e-4, 3e-4, (15, 15))
    np.testing.assert_array_equal(effective_conductance(g, 0.0), g)
    np.testing.assert_allclose(effective_conductance(g, 1e-7), g, rtol=1e-5)


def test_line_resistance_only_ever_lowers_the_currents():
    g = np.random.default_rng(1).uniform(1e-4, 3e-4, (15, 15))
    geff = effective_conductance(g, 2.0)
    assert (geff.sum(axis=0) < g.sum(axis=0)).all()
    # Row 0 is the farthest from the sense end, column 14 the farthest from the driver.
    loss = 1 - geff / g
    assert loss[0, -1] > loss[-1, 0]


def test_passive_chip_reads_through_the_nodal_solution(profile_passive):
    prof = profile_passive.replace(read={"noise_rel": 0.0, "noise_abs": 0.0})
    chip = SimulatedChip(make_die(prof, 0, 0))
    v = np.random.default_rng(2).uniform(0, 0.2, (50, 15))
    expected = v @ effective_conductance(chip.die.conductance(0), prof.read.line_resistance)
    np.testing.assert_allclose(chip.read(0, v), expected, rtol=1e-12)


def test_rejects_bad_arguments():
    with pytest.raises(ValueError, match="line resistance"):
        effective_conductance(np.ones((2, 2)), -1.0)
    with pytest.raises(ValueError, match="> 0"):
        effective_conductance(np.zeros((2, 2)), 1.0)


def _dense_reference(g: np.ndarray, r: float) -> np.ndarray:
    """G_eff by a dense solve of the same circuit, nodes numbered line by line (row-line
    nodes first, then column-line nodes): another assembly than the solver's."""
    rows, cols = g.shape
    gl, n = 1 / r, rows * cols
    a = np.zeros((2 * n, 2 * n))

    def join(p: int, q: int | None, conductance: float) -> None:
        a[p, p] += conductance
        if q is not None:  # q None: to a fixed potential (driver or ground)
            a[q, q] += conductance
            a[p, q] -= conductance
            a[q, p] -= conductance

    for i in range(rows):
        for j in range(cols):
            join(i * cols + j, n + i * cols + j, g[i, j])
            if j + 1 < cols:
                join(i * cols + j, i * cols + j + 1, gl)
            if i + 1 < rows:
                join(n + i * cols + j, n + (i + 1) * cols + j, gl)
        join(i * cols, None, gl)
    for j in range(cols):
        join(n + (rows - 1) * cols + j, None, gl)
    b = np.zeros((2 * n, rows))
    b[np.arange(rows) * cols, np.arange(rows)] = gl
    x = np.linalg.solve(a, b)
    return (gl * x[n + (rows - 1) * cols + np.arange(cols), :]).T


@pytest.mark.parametrize("shape", [(4, 7), (7, 4), (15, 15)])
def test_rectangular_arrays_match_a_dense_solve_of_the_circuit(shape):
    g = np.random.default_rng(3).uniform(1e-5, 3e-4, shape)
    np.testing.assert_allclose(effective_conductance(g, 3.0), _dense_reference(g, 3.0), rtol=1e-10)


def test_a_pulse_that_switches_no_device_keeps_the_solve(profile_passive, monkeypatch):
    from mtj_hil.protocols.chip import CellState
    from mtj_hil.sim import die as die_module

    solves = []

    def counted(g, r_line):
        solves.append(r_line)
        return effective_conductance(g, r_line)

    monkeypatch.setattr(die_module, "effective_conductance", counted)
    die = make_die(profile_passive, 0, 0)
    v = np.full((1, 15), 0.1)
    before = die.read(0, v)
    everything = np.ones((15, 15), bool)
    die.apply_pulse(0, everything, CellState.AP, 0.01, 1e-9)  # far below any device's Vc
    assert len(solves) == 1
    np.testing.assert_array_equal(die.read(0, v) > 0, before > 0)
    assert len(solves) == 1  # the same states: the same solve
    die.apply_pulse(0, everything, CellState.P, 1.2, 1e-6)
    die.apply_pulse(0, everything, CellState.AP, 1.2, 1e-6)  # every good device switches
    die.read(0, v)
    assert len(solves) == 2  # devices switched: solved again
