"""NIST daffodil-lib Wine solutions: import and reproduce the reference figures."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.training.daffodil import evaluate_all, load_solution, solution_indices
from mtj_hil.training.datasets import load_wine_nist
from mtj_hil.training.errors import DatasetError
from mtj_hil.training.reference import has_daffodil_wine

needs_reference = pytest.mark.skipif(
    not has_daffodil_wine(), reason="daffodil-wine reference folder not present"
)


@needs_reference
def test_reproduces_reference_figures():
    s = evaluate_all().summary()
    assert s["n_solutions"] == 300
    assert s["test_mean"] == pytest.approx(91.5, abs=0.05)
    assert s["test_median"] == pytest.approx(93.3, abs=0.05)
    assert s["all_mean"] == pytest.approx(96.0, abs=0.05)
    assert s["all_median"] == pytest.approx(97.2, abs=0.05)


@needs_reference
def test_solution_and_split_shapes():
    sol = load_solution(0)
    assert [b.shape for b in sol.bits] == [(13, 12), (6, 6)]
    assert set(np.unique(sol.signed_weights()[0])) <= {-1, 0, 1}
    data = load_wine_nist()
    assert data.X_train.shape == (148, 13) and data.X_test.shape == (30, 13)
    assert np.bincount(data.y_train).tolist() == [49, 58, 41]
    assert solution_indices() == list(range(300))


def test_missing_reference_raises(tmp_path, monkeypatch):
    monkeypatch.setenv("MTJ_HIL_REFERENCE", str(tmp_path / "nowhere"))
    assert not has_daffodil_wine()
    with pytest.raises(DatasetError, match="MTJ_HIL_REFERENCE"):
        load_wine_nist()
    with pytest.raises(DatasetError):
        solution_indices()
