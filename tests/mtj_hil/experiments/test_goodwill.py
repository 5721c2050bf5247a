"""The Wine experiment, shrunk: a few solutions on the simulated passive die."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.experiments.goodwill import GoodwillConfig, daffodil_forward_currents, run_goodwill
from mtj_hil.experiments.goodwill_outputs import write_goodwill
from mtj_hil.training import daffodil
from mtj_hil.training.reference import has_daffodil_wine


@pytest.mark.slow
def test_trained_solutions_on_the_passive_die(tmp_path):
    config = GoodwillConfig(solutions=2, epochs=30, restarts=1, daffodil=False)
    result = run_goodwill(config)
    s = result.trained
    assert s.test.shape == (2,) and np.all(s.all_samples > 0.6)
    assert np.all(s.bit_error_rate == 0)
    paths = write_goodwill(result, tmp_path)
    assert paths["histogram"].read_bytes()[:4] == b"\x89PNG"
    assert "all (178)" in paths["markdown"].read_text() or result.dataset == "wine"


def test_missing_reference_is_skipped_with_a_message(tmp_path):
    config = GoodwillConfig(solutions=1, epochs=5, restarts=1, reference=str(tmp_path / "none"))
    result = run_goodwill(config)
    assert result.reference is None
    assert "unavailable" in result.skipped or "skipped" in result.skipped


def test_daffodil_semantics_with_ideal_currents():
    if not has_daffodil_wine():
        return
    sol = daffodil.load_solution(0)
    X = np.random.default_rng(0).random((5, 13))

    def ideal(layer: int, v: np.ndarray) -> np.ndarray:
        g = np.where(sol.bits[layer] == 1, daffodil.G_ON, daffodil.G_OFF)
        i = v @ g
        return i[:, 0::2] - i[:, 1::2]

    assert np.allclose(daffodil_forward_currents(sol, X, ideal), daffodil.forward(sol, X))


def test_the_outputs_name_the_cell_of_a_die_that_is_not_passive(tmp_path):
    config = GoodwillConfig(profile="1t1r-20k", solutions=1, epochs=2, restarts=1, daffodil=False)
    paths = write_goodwill(run_goodwill(config), tmp_path)
    text = paths["markdown"].read_text()
    assert "through the simulated 1T1R crossbars" in text
    assert "passive" not in text


def test_the_csv_holds_the_run_file_s_numbers(tmp_path):
    """goodwill.csv wrote accuracies rounded to 4 decimals (0.6667 for 24 of 36) and the bit
    error rate to 4 digits: read with pandas they differed from the run file's values."""
    import h5py
    import pandas as pd

    config = GoodwillConfig(solutions=2, epochs=2, restarts=1, daffodil=False)
    paths = write_goodwill(run_goodwill(config), tmp_path)
    table = pd.read_csv(paths["csv"])
    with h5py.File(paths["runfile"]) as h5:
        for column, name in (
            ("test_acc", "test_accuracy"),
            ("all_acc", "all_accuracy"),
            ("sw_test_acc", "software_test_accuracy"),
            ("sw_all_acc", "software_all_accuracy"),
            ("ber", "bit_error_rate"),
        ):
            np.testing.assert_array_equal(
                table.loc[table.family == "trained", column].to_numpy(), h5[f"trained/{name}"][()]
            )
