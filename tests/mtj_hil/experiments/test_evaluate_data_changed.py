"""evaluate reloads the network's data set from its files: files changed since training
(another split, other images or labels) are refused instead of evaluated on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from mtj_hil.experiments.single import TrainSpec, train_network
from mtj_hil.experiments.single_eval import evaluate_network
from mtj_hil.training.errors import DatasetError
from mtj_hil.training.idx import write_idx


def _write(folder: Path, seed: int) -> None:
    rng = np.random.default_rng(seed)
    folder.mkdir(exist_ok=True)
    for stem, n in (("train", 60), ("t10k", 20)):
        write_idx(folder / f"{stem}-images-idx3-ubyte", rng.integers(0, 256, (n, 28, 28), np.uint8))
        write_idx(folder / f"{stem}-labels-idx1-ubyte", np.arange(n, dtype=np.uint8) % 10)


def _no_chip(*args, **kwargs):
    raise AssertionError("evaluation reached the die")


def test_idx_files_changed_since_training_are_refused(tmp_path, monkeypatch):
    folder = tmp_path / "idx"
    _write(folder, 0)
    spec = TrainSpec(
        method="unaware",
        die=0,
        out=tmp_path / "n.h5",
        dataset="idx",
        data_dir=folder,
        image_size=4,
        hidden=(4,),
        epochs=1,
    )
    train_network(spec)
    _write(folder, 1)  # same names and shapes, other images
    monkeypatch.setattr("mtj_hil.experiments.single_eval.measured_model", _no_chip)
    with pytest.raises(DatasetError, match=r"is not what .*n\.h5 was trained and split on"):
        evaluate_network(spec.out, 0)
