"""The 36-die experiment, shrunk: 2 dies, digits, few epochs, measured on the dies too."""

from __future__ import annotations

import json

import h5py
import numpy as np
import pytest

from mtj_hil.experiments.borders import BordersConfig, run_borders
from mtj_hil.experiments.outputs import write_borders


@pytest.fixture(scope="module")
def result():
    config = BordersConfig(
        dataset="digits", dies=2, hidden=(24,), epochs=8, finetune_epochs=3, on_chip=True
    )
    stages = []
    res = run_borders(config, lambda stage, done, total: stages.append(stage))
    assert {"characterise", "dies", "train unaware"} <= set(stages)
    return res


def test_errors_per_die_and_on_chip(result):
    assert len(result.dies) == 2
    for m in ("unaware", "defect_aware", "statistics_aware"):
        e = result.errors(m)
        assert np.all((e >= 0) & (e < 0.5))
        chip = result.errors(m, on_chip=True)
        # measured on the die agrees with the emulation within a few test samples' worth
        assert np.all(np.abs(chip - e) < 0.04)
    assert all(d.truth_agreement > 0.999 for d in result.dies)
    assert all(d.bit_error_rate["unaware"] < 0.01 for d in result.dies)


def test_outputs(result, tmp_path):
    paths = write_borders(result, tmp_path)
    for key in ("figure", "histogram"):
        assert paths[key].read_bytes()[:4] == b"\x89PNG"
    assert "statistics-aware" in paths["markdown"].read_text()
    assert paths["csv"].read_text().count("\n") == 3
    with h5py.File(paths["runfile"]) as h5:
        assert h5.attrs["kind"] == "experiment-borders"
        assert h5.attrs["status"] == "completed"
        assert h5["errors/unaware"].attrs["unit"] == "1"
        assert h5["errors/unaware"].shape == (2,)
        assert "digits" in h5.attrs["preprocessing"]
        assert len(json.loads(h5.attrs["placements_defect_aware"])) == 2
        assert json.loads(h5.attrs["config"])["seed"] == 0
