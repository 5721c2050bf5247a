"""The decision rule against random margins and noise (hypothesis): whatever it chooses
keeps its promises. Decisions within the bound misread no kept cell more often than the
bound; decisions held to the precision margin keep no cell below it and leave out at most
``allowed`` cells more than precision reads would; left-out cells are cells of the rule."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from mtj_hil.protocols.switching.decision import (
    CANDIDATES,
    choose_integration,
    misread_cells,
    noise_upper,
)

ROWS, COLS = 6, 5


@st.composite
def cases(draw):
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    # margins (A): most comfortable, some near or across the threshold, some not cells
    m = rng.lognormal(np.log(draw(st.floats(1e-7, 5e-6))), 1.0, (2, ROWS, COLS))
    m[rng.random(m.shape) < draw(st.floats(0, 0.3))] *= -1
    m[:, rng.random((ROWS, COLS)) < 0.1] = np.nan
    white = draw(st.floats(1e-9, 1e-6))  # A at 1 ms, falls as 1 / sqrt(t)
    floor = draw(st.floats(0, 1e-6))  # A, does not fall
    line_scale = rng.uniform(0.5, 2.0, COLS)
    dead = rng.random(COLS) < 0.1  # lines with no estimate
    n = draw(st.integers(2, 400))  # differences per line

    def noise_at(t: float) -> tuple[np.ndarray, np.ndarray]:
        sigma = np.hypot(white * np.sqrt(1e-3 / t), floor) * line_scale
        return np.where(dead, 0.0, sigma), np.where(dead, 0, n)

    precision = np.hypot(white * np.sqrt(1e-3 / 16.7e-3), floor) * line_scale
    return {
        "m": m,
        "noise_at": noise_at,
        "allowed": draw(st.integers(0, 6)),
        "precision_sigma": np.where(dead, np.inf, noise_upper(precision, n)),
        "precision_margin": draw(st.sampled_from([0.0, 1.0, 2.0, 3.0])),
        "bound": draw(st.sampled_from([1e-6, 1e-3])),
    }


@settings(max_examples=150, deadline=None)
@given(cases())
def test_the_rule_keeps_what_it_says(case):
    m, noise_at = case["m"], case["noise_at"]
    rule = choose_integration(
        m,
        noise_at,
        bound=case["bound"],
        allowed=case["allowed"],
        precision_sigma=case["precision_sigma"],
        precision_margin=case["precision_margin"],
    )
    cells = np.isfinite(m).all(axis=0)
    left = np.zeros(cells.shape, bool)
    if rule.left_out:
        left[tuple(np.array(rule.left_out).T)] = True
    assert not (left & ~cells).any()  # only cells of the rule are left out
    assert rule.standard in ("bound", "precision margin")
    if rule.integration is None:
        assert rule.standard == "bound"
        if case["precision_margin"] == 0:
            assert not left.any()
        return
    assert rule.integration in CANDIDATES
    sigma = noise_upper(*noise_at(rule.integration))
    kept = np.where(left[None], np.nan, m)
    if rule.standard == "bound":
        assert not misread_cells(kept, sigma, case["bound"]).any()
        assert len(rule.left_out) <= case["allowed"]
    else:
        cut = float(stats.norm.sf(case["precision_margin"]))
        assert case["precision_margin"] > 0
        assert not misread_cells(kept, sigma, cut).any()
        assert (np.isfinite(kept).all(axis=0)).any()  # it keeps at least one cell
        prec_left = misread_cells(m, case["precision_sigma"], cut)
        assert (left & ~prec_left).sum() <= case["allowed"]
        assert rule.misread <= cut + 1e-12
