"""Any run file as a labelled dataset: the kind's ``dataset`` piece (:mod:`mtj_hil.kinds`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import xarray as xr

from mtj_hil.errors import StoreError
from mtj_hil.kinds import file_kind, measurement_kinds
from mtj_hil.labelled.source import open_run
from mtj_hil.runs.store.reading import reader_errors


def run_kind(path: str | Path) -> tuple[str, str]:
    """The ``kind`` and ``status`` of the run file at ``path``.

    Raises:
        StoreError: missing, not HDF5, or not an mtj-hil run file (the message names it).
    """
    with open_run(path) as run:
        return run.kind, run.status


def load_dataset(path: str | Path) -> xr.Dataset:
    """The run file at ``path`` (any measurement kind, finished or not) as an
    ``xarray.Dataset`` with named dimensions, coordinates and CF units and long names.

    The file is first read by its kind's own loader (:func:`check_intact`), so data that
    ``show`` refuses (checksums that do not match, a dataset or attribute missing) never
    become a Dataset.

    Raises:
        StoreError: not an mtj-hil run file, a kind without a labelled form, damaged data,
            or a dataset that cannot be read (each message names the file, and the dataset).
    """
    kind, _ = run_kind(path)
    measurement = file_kind(kind)
    builder = measurement.piece("dataset") if measurement is not None else None
    if builder is None:
        known = ", ".join(k for k, m in measurement_kinds().items() if m.dataset)
        raise StoreError(f"{path} is a {kind!r} run; labelled datasets exist for {known}")
    _load_as_its_kind(measurement, path)
    with reader_errors(Path(path)):  # what the structure check cannot see, still one line
        return builder(path)


def check_intact(path: str | Path) -> None:
    """Read the run file at ``path`` as its kind's own loader reads it (the one ``show``
    uses), so what it refuses is refused here too: data that no longer match their
    per-array checksums, a dataset or attribute missing or unreadable.

    Raises:
        StoreError: the file is damaged or incomplete (naming it and what was found), or
            is no measurement run (a kind no measurement registered).
    """
    kind, _ = run_kind(path)
    measurement = file_kind(kind)
    if measurement is None:
        known = ", ".join(measurement_kinds())
        raise StoreError(f"{path} is a {kind!r} run, not a measurement run ({known})")
    _load_as_its_kind(measurement, path)


def _load_as_its_kind(measurement: Any, path: str | Path) -> None:
    """Read ``path`` with ``measurement``'s own loader, if it has one (see
    :func:`check_intact`)."""
    load = measurement.piece("load")
    if load is not None:
        with reader_errors(Path(path)):
            load(path)
