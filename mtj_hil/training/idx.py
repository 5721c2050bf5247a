"""Reader and writer for IDX files (the MNIST / Fashion-MNIST format), plain or gzipped."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np

from mtj_hil.training.datasets import Dataset, PixelMode, pixels
from mtj_hil.training.errors import DatasetError

_DTYPES: dict[int, np.dtype] = {
    0x08: np.dtype(np.uint8),
    0x09: np.dtype(np.int8),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}
_CODES = {dt.newbyteorder(">") if dt.itemsize > 1 else dt: code for code, dt in _DTYPES.items()}

# the four files of a data set, each under the names the common distributions use
_FILES = {
    "train_images": ("train-images-idx3-ubyte", "train-images.idx3-ubyte"),
    "train_labels": ("train-labels-idx1-ubyte", "train-labels.idx1-ubyte"),
    "test_images": ("t10k-images-idx3-ubyte", "t10k-images.idx3-ubyte"),
    "test_labels": ("t10k-labels-idx1-ubyte", "t10k-labels.idx1-ubyte"),
}


def read_idx(path: str | os.PathLike[str]) -> np.ndarray:
    """Read one IDX file (``.gz`` is decompressed transparently).

    Returns:
        The array with its stored shape, in native byte order.

    Raises:
        DatasetError: the file is missing, truncated, or has a bad header.
    """
    p = Path(path)
    if not p.is_file():
        raise DatasetError(f"IDX file not found: {p}")
    opener = gzip.open if p.suffix == ".gz" else open
    try:
        with opener(p, "rb") as fh:
            raw = fh.read()
    except (OSError, EOFError) as exc:
        raise DatasetError(f"cannot read {p}: {exc}") from exc
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] not in _DTYPES:
        raise DatasetError(f"{p} is not an IDX file (bad magic number)")
    dtype, ndim = _DTYPES[raw[2]], raw[3]
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DatasetError(f"{p}: header truncated")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    n = int(np.prod(shape, dtype=np.int64))
    if len(raw) != header + n * dtype.itemsize:
        raise DatasetError(
            f"{p}: header says shape {shape} ({n * dtype.itemsize} data bytes) but the file "
            f"has {len(raw) - header}"
        )
    data = np.frombuffer(raw, dtype=dtype, count=n, offset=header).reshape(shape)
    return data.astype(dtype.newbyteorder("="))


def write_idx(path: str | os.PathLike[str], array: np.ndarray) -> None:
    """Write ``array`` as an IDX file (gzipped if the name ends in ``.gz``).

    Raises:
        DatasetError: a dtype IDX cannot hold (allowed: uint8, int8, int16, int32,
            float32, float64).
    """
    arr = np.asarray(array)
    big = arr.dtype.newbyteorder(">") if arr.dtype.itemsize > 1 else arr.dtype
    if big not in _CODES:
        raise DatasetError(f"IDX cannot store dtype {arr.dtype}")
    header = bytes([0, 0, _CODES[big], arr.ndim]) + np.asarray(arr.shape, ">u4").tobytes()
    payload = header + arr.astype(big).tobytes()
    p = Path(path)
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "wb") as fh:
        fh.write(payload)


def _find(data_dir: Path, key: str) -> Path:
    for stem in _FILES[key]:
        for name in (stem, stem + ".gz"):
            if (data_dir / name).is_file():
                return data_dir / name
    raise DatasetError(
        f"no {key.replace('_', ' ')} file in {data_dir}. load_idx needs these four files "
        f"(plain or .gz) in that folder: {', '.join(v[0] for v in _FILES.values())}. "
        "MNIST is distributed under those names; for Fashion-MNIST, Debian's "
        "'dataset-fashion-mnist' package installs them in /usr/share/datasets/fashion-mnist/."
    )


def load_idx(
    data_dir: str | os.PathLike[str],
    size: int | None = 10,
    mode: PixelMode = "scale",
    threshold: float = 0.5,
    name: str = "idx",
) -> Dataset:
    """Load a full MNIST-style data set (60k train / 10k test) from user-supplied IDX files.

    Args:
        data_dir: folder with ``train-images-idx3-ubyte``, ``train-labels-idx1-ubyte``,
            ``t10k-images-idx3-ubyte``, ``t10k-labels-idx1-ubyte`` (each may end in ``.gz``).
        size: down-sample to ``size x size`` pixels by area average (None keeps full size).
        mode: ``"scale"`` (0..255 -> [0, 1]) or ``"binary"`` (then threshold).
        threshold: binarisation threshold on the [0, 1] scale.
        name: label for the data set (e.g. ``"fashion-mnist"``).

    Raises:
        DatasetError: a file is missing (the message lists the expected files and where to
            get them), malformed, or images and labels disagree in count.
    """
    root = Path(data_dir)
    if not root.is_dir():
        raise DatasetError(
            f"IDX folder {root} does not exist; put the four MNIST-format files "
            f"({', '.join(v[0] for v in _FILES.values())}, plain or .gz) there. For "
            "Fashion-MNIST, Debian's 'dataset-fashion-mnist' package provides them in "
            "/usr/share/datasets/fashion-mnist/."
        )
    paths = {key: _find(root, key) for key in _FILES}
    parts = {}
    for part in ("train", "test"):
        images = read_idx(paths[f"{part}_images"])
        labels = read_idx(paths[f"{part}_labels"])
        if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
            raise DatasetError(
                f"{part}: images shape {images.shape} and labels shape {labels.shape} "
                "do not match (expected (n, h, w) and (n,))"
            )
        if images.shape[0] == 0:
            raise DatasetError(f"{part}: {paths[f'{part}_images']} holds no images")
        parts[part] = (images, labels)
    Xtr, steps = pixels(parts["train"][0], 255.0, size, mode, threshold)
    Xte, _ = pixels(parts["test"][0], 255.0, size, mode, threshold)
    side = steps["image_side"]
    return Dataset(
        Xtr,
        parts["train"][1],
        Xte,
        parts["test"][1],
        name=f"{name}-{side}x{side}-{mode}",
        preprocessing={
            "source": f"IDX files in {root}",
            **steps,
            "split": "as supplied (train / t10k files)",
        },
    )
