"""Reading a run file for the labelled datasets: every failure is a :class:`StoreError`
naming the file (and the dataset that could not be read)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.runs.store.runfile import RunFile


@contextmanager
def open_run(path: str | Path, kind: str | None = None) -> Iterator[RunFile]:
    """The run file at ``path`` opened for reading (of ``kind`` when given).

    Raises:
        StoreError: missing, not HDF5, not an mtj-hil run file, or of another kind.
    """
    run = RunFile.open(path, "r", kind=kind)
    try:
        yield run
    finally:
        run.close()


def provenance(run: RunFile) -> dict[str, Any]:
    """The run's root attributes, JSON values decoded (:attr:`RunFile.attrs`).

    Raises:
        StoreError: an attribute that does not decode (a damaged run file).
    """
    try:
        return run.attrs
    except (ValueError, OSError) as exc:
        raise StoreError(f"{run.path}: the run's attributes cannot be read: {exc}") from exc


def read(run: RunFile, name: str) -> np.ndarray:
    """The dataset ``name`` of ``run`` as an array.

    Raises:
        StoreError: the dataset is missing or its data cannot be read (a damaged file).
    """
    if name not in run.h5:
        raise StoreError(f"{run.path}: dataset {name!r} is missing (a damaged run file?)")
    try:
        return np.asarray(run.h5[name][()])
    except (OSError, ValueError, RuntimeError) as exc:
        raise StoreError(f"{run.path}: dataset {name!r} cannot be read: {exc}") from exc


def has(run: RunFile, name: str) -> bool:
    """Whether ``run`` holds the dataset (or group) ``name``."""
    return name in run.h5


def group_attrs(run: RunFile, name: str) -> dict[str, Any]:
    """The attributes of group ``name`` (text decoded, numpy scalars as Python numbers)."""
    out: dict[str, Any] = {}
    for key, value in run.h5[name].attrs.items():
        if isinstance(value, bytes):
            value = value.decode()
        elif isinstance(value, np.generic):
            value = value.item()
        out[key] = value
    return out
