"""Opening a run file that another process may be writing: read-only, no file lock, and
retried while the writer is half-way through a flush."""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import h5py

from mtj_hil.errors import StoreError

T = TypeVar("T")
FORMAT = "mtj-hil-run"
"""The root ``format`` attribute of a run file (:mod:`mtj_hil.runs.store.runfile`)."""
SIGNATURE = b"\x89HDF\r\n\x1a\n"
"""The first bytes of an HDF5 file (written by h5py without a user block)."""


class NotARunFile(StoreError):
    """The file is readable but is not an mtj-hil run file (retrying will not help)."""


def read_retrying(
    path: str | Path, read: Callable[[h5py.File], T], attempts: int = 6, pause: float = 0.05
) -> T:
    """``read(h5)`` on ``path`` opened read-only without file locking (so the writer's lock
    is neither taken nor waited for), retried ``attempts`` times ``pause`` s apart (doubling)
    while the file cannot be opened or read (a flush under way changes it under us).

    Raises:
        FileNotFoundError: no such file.
        NotARunFile: an HDF5 file without the run-file ``format`` attribute.
        StoreError: still unreadable after every attempt (the message says why).
    """
    with open(path, "rb") as f:  # FileNotFoundError as it is
        if f.read(8) != SIGNATURE:
            raise NotARunFile(f"{path} is not an mtj-hil run file (not even an HDF5 file)")
    last: Exception | None = None
    for i in range(attempts):
        try:
            with h5py.File(path, "r", locking=False) as h5:
                if h5.attrs.get("format") != FORMAT:
                    raise NotARunFile(f"{path} is not an mtj-hil run file")
                return read(h5)
        except (FileNotFoundError, NotARunFile):
            raise
        except (OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
            last = exc
            if not Path(path).exists():
                raise FileNotFoundError(path) from exc
        time.sleep(pause * 2**i)
    raise StoreError(f"cannot read {path} (it may be damaged): {last}")
