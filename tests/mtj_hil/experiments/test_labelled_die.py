"""A characterisation of a station's die (labelled with --die-id) trains a die-bound
network for that die, as the command's hint for --station says to do."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mtj_hil.errors import ConfigError
from mtj_hil.experiments.single import TrainSpec, train_network
from mtj_hil.experiments.single_eval import evaluate_network
from mtj_hil.runs.store.runfile import RunFile


def _labelled(char_file: Path, folder: Path, label: str) -> Path:
    """A copy of ``char_file`` as a station's run of the die labelled ``label``."""
    path = folder / "bench.h5"
    shutil.copy(char_file, path)
    with RunFile.open(path, "a") as run:
        station = run.attrs["station"]
        station["backend"] = "instruments"
        run.set_attrs("", station=json.dumps(station), die_id=label)
    return path


def test_a_station_dies_run_trains_a_network_for_that_die(tmp_path, char_file):
    bench = _labelled(char_file, tmp_path, "W3-D12")
    spec = TrainSpec(
        method="defect-aware",
        die=0,
        out=tmp_path / "n.h5",
        dataset="digits",
        hidden=(8,),
        epochs=1,
        characterization=[bench],
    )
    assert train_network(spec)["die_id"] == "W3-D12"
    with pytest.raises(ConfigError, match=r"network for W3-D12, not sim:.*evaluate it there"):
        evaluate_network(spec.out, 0)
