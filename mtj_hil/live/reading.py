"""Opening a run file that another process may be writing: through the store's own reader
(:func:`mtj_hil.runs.store.reading.load_tree`: the file verified, its committed journal
parts replayed, all in memory), so arrays committed since the last fold are shown too.
Strictly read-only: no lease is taken and nothing beside the file is tidied."""

from __future__ import annotations

import os
import stat
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import h5py

from mtj_hil.errors import StoreError
from mtj_hil.runs.store.image import MAGIC
from mtj_hil.runs.store.journal import RecoveryWarning, list_parts
from mtj_hil.runs.store.reading import load_tree
from mtj_hil.runs.store.structure import check_run, is_run_format

T = TypeVar("T")
FORMAT = "mtj-hil-run"
"""The root ``format`` attribute of a run file (:mod:`mtj_hil.runs.store.runfile`)."""
SIGNATURE = b"\x89HDF\r\n\x1a\n"
"""The first bytes of an HDF5 file without a user block (run files of mtj-hil 0.1)."""


class NotARunFile(StoreError):
    """The file is readable but is not an mtj-hil run file (retrying will not help)."""


def read_retrying(
    path: str | Path, read: Callable[[h5py.File], T], attempts: int = 6, pause: float = 0.05
) -> T:
    """``read(h5)`` on the tree of the run file ``path`` (file plus committed journal parts,
    in memory; no lease, no lock), retried ``attempts`` times ``pause`` s apart (doubling)
    while it cannot be read (a writer folding its parts meanwhile).

    Raises:
        FileNotFoundError: no such file.
        NotARunFile: a file that is neither a run file nor HDF5, HDF5 without the
            run-file ``format`` attribute, or a run file with a dataset of another type or
            shape than mtj-hil writes (:mod:`mtj_hil.runs.store.structure`).
        StoreError: still unreadable after every attempt (the message says why).
    """
    path = Path(path)
    head = _head(path, len(MAGIC))
    if not (head.startswith(SIGNATURE) or head[:8] == MAGIC[:8]):
        raise NotARunFile(f"{path} is not an mtj-hil run file (not even an HDF5 file)")
    last: Exception | None = None
    before: tuple[object, ...] | None = None
    for i in range(attempts):
        now = _state(path)
        # a failure on a file and journal that did not change since the last attempt is no
        # read caught half way through a write: it is final (a damaged file is named at
        # once instead of after 3 s of retries)
        final = i == attempts - 1 or now == before
        before = now
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", RecoveryWarning)  # untrusted parts: not shown
                tree = load_tree(path, writable=False)
            with tree.h5 as h5:
                if not is_run_format(h5.attrs.get("format")):
                    raise NotARunFile(f"{path} is not an mtj-hil run file")
                try:  # a dataset of another type or shape: named once it stays so
                    check_run(h5, path, str(h5.attrs.get("kind", "")))
                except StoreError as exc:
                    if final:  # not a read caught half way through a write
                        raise NotARunFile(str(exc)) from exc
                    raise
                return read(h5)
        except (FileNotFoundError, NotARunFile):
            raise
        except (StoreError, OSError, KeyError, ValueError, RuntimeError, TypeError) as exc:
            last = exc
            if not path.exists():
                raise FileNotFoundError(path) from exc
            if final:
                break
        time.sleep(pause * 2**i)
    if isinstance(last, StoreError) and str(path) in str(last):
        raise StoreError(str(last))  # it names the file and what is wrong with it already
    raise StoreError(f"cannot read {path} (it may be damaged): {last}")


def _head(path: Path, size: int) -> bytes:
    """The first ``size`` bytes of ``path``, which must be a regular file. Opened without
    blocking, so a named pipe or device swapped in under the path is refused instead of
    holding the reader (the page's one watcher) for ever.

    Raises:
        FileNotFoundError: no such file. NotARunFile: not a regular file.
        OSError: it cannot be opened or read.
    """
    fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK)
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            raise NotARunFile(
                f"{path} is not a regular file (a pipe, device, socket or folder): not a run file"
            )
        return os.pread(fd, size, 0)
    finally:
        os.close(fd)


def _state(path: Path) -> tuple[object, ...]:
    """What a writer changes: the file's identity, size and time, and its journal parts."""
    try:
        st = os.stat(path)
        key: tuple[object, ...] = (st.st_ino, st.st_size, st.st_mtime_ns)
    except OSError:
        key = ()
    return key + tuple(p.name for _, p in list_parts(path))
