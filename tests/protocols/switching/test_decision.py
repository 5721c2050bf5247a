"""State reads as decisions: the rule, and its noise model against the virtual board."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import stats

from mtj_hil.protocols.switching.decision import (
    CANDIDATES,
    DEFAULT_BOUND,
    EQUAL_SHARE,
    choose_integration,
    margins,
    misread_cells,
    misread_probability,
    noise_upper,
    read_noise,
)


def _noise(sigma_at_1ms: float, floor: float = 0.0):
    """A noise model: white noise falling as 1/sqrt(t) plus a floor (A); many samples."""
    calls = []

    def noise_at(t: float) -> tuple[np.ndarray, int]:
        calls.append(t)
        return np.full(4, np.hypot(sigma_at_1ms * np.sqrt(1e-3 / t), floor)), 10_000

    return noise_at, calls


def test_the_rule_takes_the_shortest_integration_that_keeps_the_bound():
    m = np.array([[5e-6, 3e-6, 2e-6, np.nan]])  # worst margin 2 uA
    noise_at, calls = _noise(1e-7)
    rule = choose_integration(m, noise_at)
    tried = list(calls)
    assert rule.integration is not None
    assert rule.misread <= DEFAULT_BOUND
    shorter = [t for t in tried if t < rule.integration]
    for t in shorter:  # every shorter candidate tried failed the bound
        sigma = noise_upper(*noise_at(t))
        assert misread_probability(m, sigma) > DEFAULT_BOUND
    assert tried == sorted(tried) and tried[-1] == rule.integration  # stops at the first pass
    # the bound is what the worst cell sees: z = margin / sigma >= 4.75 for 1e-6
    assert rule.worst_margin / rule.sigma >= stats.norm.isf(DEFAULT_BOUND)


def test_a_tighter_bound_or_smaller_margins_need_longer_integrations():
    noise_at, _ = _noise(1e-7)
    m = np.full((3, 4), 2e-6)
    loose = choose_integration(m, noise_at, bound=1e-3).integration
    tight = choose_integration(m, noise_at, bound=1e-9).integration
    small = choose_integration(m / 2, noise_at).integration
    base = choose_integration(m, noise_at).integration
    assert loose <= base <= tight and base <= small


def test_no_integration_meets_the_bound_then_precision_reads_are_kept():
    noise_at, _ = _noise(1e-7, floor=1e-6)  # a noise floor no integration removes
    rule = choose_integration(np.full((2, 4), 2e-6), noise_at)
    assert rule.integration is None and np.isnan(rule.misread)
    with pytest.raises(ValueError):
        choose_integration(np.ones(3), noise_at, bound=0.0)


def test_a_cell_on_the_wrong_side_never_passes():
    noise_at, _ = _noise(1e-12)
    assert choose_integration(np.array([[1e-6, -1e-9, 1e-6, 1e-6]]), noise_at).integration is None


def test_margins_and_noise_estimates():
    g_p = np.full((2, 2), 233e-6)
    g_ap = np.full((2, 2), 133e-6)
    use = np.array([[True, False], [True, True]])
    m = margins(g_p, g_ap, use, 176e-6, 0.1, precision_sigma=1e-7)
    assert m.shape == (2, 2, 2) and np.isnan(m[:, 0, 1]).all()
    assert np.allclose(m[1][use], (176e-6 - 133e-6) * 0.1 - 3e-7)
    rng = np.random.default_rng(1)
    line_sigma = np.linspace(1e-7, 3e-7, 25)  # each output line its own noise
    reads = rng.normal(0, 1, (8, 25, 25)) * line_sigma
    sigma, n = read_noise(reads, np.ones((25, 25), bool))
    assert np.all(n == 4 * 25) and sigma.shape == n.shape == (25,)
    assert np.allclose(sigma, line_sigma, rtol=0.3)
    assert np.all(noise_upper(sigma, n) > sigma) and noise_upper(1.0, 10**6) < 1.01
    # the noisiest line sets the bound
    assert misread_probability(np.full((1, 25), 1e-6), sigma) == pytest.approx(
        stats.norm.sf(1e-6 / sigma.max())
    )


def _served_but(cells: list[tuple[int, int]], margin: float = -1e-8) -> np.ndarray:
    """Margins (A, ``(2, 5, 4)``) of 2 uA everywhere but ``cells`` (``margin`` in AP), and a
    cell that is not part of the rule (NaN)."""
    m = np.full((2, 5, 4), 2e-6)
    for r, c in cells:
        m[1, r, c] = margin
    m[:, 4, 3] = np.nan
    return m


def test_cells_no_candidate_serves_are_left_out_when_few_enough():
    noise_at, calls = _noise(1e-7)
    bad = [(0, 1), (3, 2)]
    m = _served_but(bad)
    m[0, 2, 2] = 2e-8  # a P margin a precision read cannot tell either, though positive
    bad = sorted([*bad, (2, 2)])
    rule = choose_integration(m, noise_at, allowed=3, precision_sigma=1e-8)
    assert rule.integration is not None and rule.misread <= DEFAULT_BOUND
    assert sorted(rule.left_out) == bad and rule.unserved == 3 and rule.allowed == 3
    assert rule.why == {"no margin": 2, "precision misread": 1}
    assert rule.worst_margin == 2e-6  # over the cells kept
    assert rule.cells == 19  # the rule's cells, left-out ones among them
    # the integration is the shortest that serves every other cell (as without them)
    assert rule.integration == choose_integration(_served_but([]), noise_at).integration
    # every candidate was measured before any cell was left out
    assert sorted(set(calls)) == list(CANDIDATES)


def test_a_cell_precision_reads_tell_but_no_candidate_does_is_a_decision_misread():
    noise_at, _ = _noise(1e-7, floor=1e-7)
    m = _served_but([(1, 1)], margin=3e-7)  # 3 sigma of every candidate, 30 of a precision read
    rule = choose_integration(m, noise_at, allowed=1, precision_sigma=1e-8)
    assert rule.left_out == ((1, 1),) and rule.why == {"decision misread": 1}


def test_more_unserved_cells_than_allowed_or_none_allowed_keep_precision_reads():
    noise_at, _ = _noise(1e-7)
    m = _served_but([(0, 0), (0, 1), (0, 2)])
    for allowed in (0, 2):
        rule = choose_integration(m, noise_at, allowed=allowed)
        assert rule.integration is None and rule.left_out == () and rule.why == {}
        assert rule.unserved == 3 and rule.allowed == allowed
    old = choose_integration(m, noise_at)  # the rule as it was: all or nothing
    assert old.integration is None and old.unserved == 3 and old.allowed == 0
    with pytest.raises(ValueError):
        choose_integration(m, noise_at, allowed=-1)


def test_an_array_every_candidate_serves_gets_the_rule_it_always_got():
    noise_at, _ = _noise(1e-7)
    m = _served_but([])
    assert choose_integration(m, noise_at, allowed=5) == choose_integration(m, noise_at)
    assert choose_integration(m, noise_at, allowed=5).left_out == ()


def test_misread_cells_are_those_above_the_bound_in_either_state():
    m = np.array([[[1e-6, 1e-6, np.nan]], [[1e-6, 1e-7, np.nan]]])
    assert misread_cells(m, 1e-7, DEFAULT_BOUND).tolist() == [[False, True, False]]
    assert misread_cells(m, 0.0, DEFAULT_BOUND).tolist() == [[False, False, False]]


def test_precision_reads_leave_out_the_cells_below_the_precision_margin():
    noise_at, _ = _noise(1e-7)
    m = _served_but([(0, 0), (0, 1), (0, 2)])
    m[0, 1, 1] = 2e-8  # 2 sigma of a precision read of 10 nA
    m[np.isfinite(m) & (m > 1e-7)] = 1e-7  # 3 sigma of no candidate (5 ms: 45 nA)
    rule = choose_integration(m, noise_at, precision_sigma=1e-8, precision_margin=3.0)
    assert rule.integration is None and rule.unserved == 19 and rule.standard == "bound"
    assert rule.left_out == ((0, 0), (0, 1), (0, 2), (1, 1))
    assert rule.why == {"no margin": 3, "precision margin": 1}
    assert choose_integration(m, noise_at, precision_sigma=1e-8).left_out == ()
    with pytest.raises(ValueError):
        choose_integration(m, noise_at, precision_sigma=1e-8, precision_margin=-1.0)


def test_a_cell_only_another_integration_serves_is_left_out_with_the_unserved():
    """A line's noise need not fall with the integration (mains pick-up): the candidate
    reading the most cells is used, and the cells it cannot read are left out."""

    def noise_at(t: float) -> tuple[np.ndarray, int]:
        sigma = np.full(4, 1e-7 * np.sqrt(1e-3 / t))
        sigma[3] = 1e-9 if t == 1e-5 else 1e-6  # line 3: quiet only at the shortest
        return sigma, 10_000

    m = _served_but([(1, 1)])
    rule = choose_integration(m, noise_at, allowed=5)
    assert rule.integration == 1e-4  # the shortest serving lines 0-2
    assert rule.unserved == 1  # only (1, 1) fails everywhere
    assert (1, 1) in rule.left_out and (0, 3) in rule.left_out
    assert len(rule.left_out) == 5  # line 3's cells of the rule: rows 0-3 and (1, 1)


def test_decisions_held_to_the_precision_margin_where_none_meets_the_bound():
    """No candidate reads enough cells within the bound (a noise floor no integration
    removes): the shortest candidate that keeps its cells at least ``precision_margin``
    sigma of its own noise from the threshold, and loses at most ``allowed`` cells more
    than precision reads would, decides; its cells are held to what precision reads are."""
    noise_at, calls = _noise(1e-7, floor=2e-7)  # 5 ms: 206 nA; 50 us: 490 nA; 10 us: 1 uA
    m = _served_but([(0, 0)])  # one cell across the threshold
    m[0, 1, :] = 5e-7  # 4 cells within 3 sigma of every candidate (50 sigma of a precision read)
    m[0, 2, 0] = 1.6e-6  # 3 sigma from 50 us, 4.75 sigma (the bound) from 200 us
    margin = {"precision_sigma": 1e-8, "precision_margin": 3.0}
    # 5 cells no candidate reads within the bound: allowed 5, they are left out (step 4)
    strict = choose_integration(m, noise_at, allowed=5, **margin)
    assert strict.standard == "bound" and strict.integration == 2e-4
    # allowed 4: decisions at 50 us held to 3 sigma, 4 cells more than precision reads lose
    rule = choose_integration(m, noise_at, allowed=4, **margin)
    assert rule.standard == "precision margin" and rule.integration == 5e-5
    assert sorted(set(calls)) == list(CANDIDATES)  # every candidate was measured first
    assert rule.left_out == ((0, 0), (1, 0), (1, 1), (1, 2), (1, 3))
    assert rule.why == {"no margin": 1, "precision margin": 4}
    assert DEFAULT_BOUND < rule.misread <= stats.norm.sf(3.0)
    assert rule.worst_margin == 1.6e-6 and rule.unserved == 5
    # allowed 3: no candidate loses so few; precision reads, which lose only the one across
    none = choose_integration(m, noise_at, allowed=3, **margin)
    assert none.integration is None and none.left_out == ((0, 0),)
    # no precision margin: the rule before (precision reads, nothing left out)
    old = choose_integration(m, noise_at, allowed=4, precision_sigma=1e-8)
    assert old.integration is None and old.left_out == () and old.standard == "bound"


def test_a_line_with_no_noise_estimate_leaves_out_its_cells_only():
    """An output line with no verified cell (open or shorted) has no noise estimate: its
    cells of the rule are left out, and every other line still decides (one such line used
    to make every line's noise unknown, so the whole array was left out)."""

    def noise_at(t: float) -> tuple[np.ndarray, np.ndarray]:
        n = np.full(4, 100)
        n[2] = 0
        return np.where(n > 0, 1e-7 * np.sqrt(1e-3 / t), 0.0), n

    m = _served_but([])
    rule = choose_integration(m, noise_at, allowed=5)
    assert rule.integration is not None and np.isfinite(rule.sigma)
    assert rule.left_out == tuple((r, 2) for r in range(5))
    assert noise_upper(np.ones(3), np.array([0, 1, 2]))[:2].tolist() == [np.inf, np.inf]


def test_decisions_held_to_the_margin_prefer_fewer_cells_left_out_to_a_shorter_read():
    """Of the candidates step 5 may use, the one leaving out the fewest cells is used; a
    shorter one only when it leaves out at most EQUAL_SHARE of the rule's cells more."""
    noise_at, _ = _noise(1e-7, floor=2e-7)

    def margins_of(rows: int) -> np.ndarray:
        m = np.full((2, rows, 4), 2e-6)
        m[1, 0:3, :] = -1e-8  # 12 cells across the threshold (precision reads lose them too)
        m[0, 3, :] = 8e-7  # 4 cells within 3 sigma up to 200 us (5 ms: 4.75 sigma is 1 uA)
        return m

    margin = {"allowed": 12, "precision_sigma": 1e-8, "precision_margin": 3.0}
    small = choose_integration(margins_of(20), noise_at, **margin)  # 80 cells: 1 % < 1 cell
    assert small.standard == "precision margin" and small.integration == 5e-4
    assert len(small.left_out) == 12  # the ones across only
    large = choose_integration(margins_of(125), noise_at, **margin)  # 500 cells: 1 % = 5
    assert large.standard == "precision margin" and large.integration == 5e-5
    assert len(large.left_out) == 16  # 4 more than the fewest, at a tenth of the integration
    assert EQUAL_SHARE * large.cells >= 4 > EQUAL_SHARE * small.cells
