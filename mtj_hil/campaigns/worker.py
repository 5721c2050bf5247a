"""What runs on a worker: one task, under its station's lock, returning its outcome.

Workers never touch the campaign index; they return a plain dict the client records.
"""

from __future__ import annotations

import logging
import os
import platform
import threading
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtj_hil.campaigns.index import file_checksum
from mtj_hil.campaigns.registry import get_kind
from mtj_hil.campaigns.remote_stop import stopped_by_client
from mtj_hil.campaigns.task import Task
from mtj_hil.errors import StoreError
from mtj_hil.instruments.bus.signals import StopSignal
from mtj_hil.runs.store.journal import parts_dir
from mtj_hil.runs.store.lease import writer_active
from mtj_hil.runs.store.runfile import RunFile

LOCK_PREFIX = "mtj-hil-station:"
"""Name prefix of the cluster-wide lock held by a task that drives a station."""


_CAPTURING = threading.Lock()
"""Held while a task's warnings are captured: ``warnings.catch_warnings`` is per process, so
a second task running in another thread of the same process (an in-process cluster) leaves
its warnings to print as they come instead."""


class _LogRelay(logging.Handler):
    """Records of WARNING and above from the ``mtj_hil`` loggers, collected per capturing
    thread as one-line texts ``"LEVEL: message"``; a record of any other thread goes where
    it would have gone without this handler."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.sinks: dict[int, list[str]] = {}

    def emit(self, record: logging.LogRecord) -> None:
        sink = self.sinks.get(record.thread or 0)
        if sink is not None:
            text = f"{record.levelname}: {' '.join(record.getMessage().split())}"
            if text not in sink:
                sink.append(text)
        elif not self._handled_elsewhere(record) and logging.lastResort is not None:
            logging.lastResort.handle(record)  # as Python does when no handler is found

    def _handled_elsewhere(self, record: logging.LogRecord) -> bool:
        logger: logging.Logger | None = logging.getLogger(record.name)
        while logger is not None:
            if any(h is not self and record.levelno >= h.level for h in logger.handlers):
                return True
            logger = logger.parent if logger.propagate else None
        return False


_RELAY = _LogRelay()
_RELAY_LOCK = threading.Lock()


@contextmanager
def _relayed_log(said: list[str]) -> Iterator[None]:
    """Collect into ``said`` the ``mtj_hil`` log records of WARNING and above this thread
    makes in the block (an SMU output not confirmed off, a board's fallback): on a worker
    they would go to its own stderr, without the task, or nowhere."""
    ident, logger = threading.get_ident(), logging.getLogger("mtj_hil")
    with _RELAY_LOCK:
        if not _RELAY.sinks:
            logger.addHandler(_RELAY)
        _RELAY.sinks[ident] = said
    try:
        yield
    finally:
        with _RELAY_LOCK:
            del _RELAY.sinks[ident]
            if not _RELAY.sinks:
                logger.removeHandler(_RELAY)


@contextmanager
def relayed_warnings() -> Iterator[list[str]]:
    """The warnings raised and the ``mtj_hil`` log records of WARNING and above made in the
    block, as one-line texts ``"Category: message"`` / ``"LEVEL: message"`` (each once),
    for the client to print: a worker's own stderr shows them with a source line, and on a
    remote worker nobody sees them at all. Log records are collected per thread; warnings
    only by the first of several threads capturing at once (``catch_warnings`` is per
    process), the others' go to the usual warning output."""
    said: list[str] = []
    with _relayed_log(said):
        if not _CAPTURING.acquire(blocking=False):
            yield said
            return
        try:
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("default")
                try:
                    yield said
                finally:
                    warned = [" ".join(str(w.message).split()) for w in caught]
                    # a message both warned and logged (``tell_user``) is said once, as
                    # the warning
                    said[:] = [t for t in said if t.partition(": ")[2] not in warned]
                    for w, message in zip(caught, warned, strict=True):
                        text = f"{w.category.__name__}: {message}"
                        if text not in said:
                            said.append(text)
        finally:
            _CAPTURING.release()


def _stamp() -> str:
    """UTC time to the millisecond (ISO 8601): start and end of a task."""
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def _worker_address() -> str | None:
    try:
        from distributed import get_worker

        return str(get_worker().address)
    except (ImportError, ValueError):
        return None


BENCH_LOCK_PREFIX = "mtj-hil-bench:"
"""Name prefix of the cluster-wide lock of one instrument address a task's station names."""


def bench_keys(task: Task) -> list[str]:
    """The instrument addresses (one spelling each, sorted) the station file of ``task``
    names, past the in-process lab's ``"virtual"``; none for a task without a station file
    or one that cannot be loaded (the task's run reports that)."""
    path = task.params.get("station_file") if isinstance(task.params, dict) else None
    if not path:
        return []
    from mtj_hil.station.bench_lock import address_key
    from mtj_hil.station.config import VIRTUAL
    from mtj_hil.station.connect import bench_addresses
    from mtj_hil.station.files import load_station

    try:
        station = load_station(path)
    except Exception:  # noqa: BLE001 - the task itself fails on it, with the reason
        return []
    return sorted({address_key(a) for a in bench_addresses(station) if a != VIRTUAL})


@contextmanager
def station_lock(station: str | None, bench: list[str] | None = None) -> Iterator[None]:
    """Hold the cluster-wide lock of ``station`` and then of each instrument address in
    ``bench`` (sorted: two stations that share an instrument wait for each other, and no two
    tasks wait on each other's locks); a no-op for tasks without a station, or outside a
    Dask worker, where tasks run one after the other anyway. While it waits, the worker
    thread is handed back so other tasks can run."""
    if station is None or _worker_address() is None:
        yield
        return
    from distributed import Lock

    names = [LOCK_PREFIX + station, *(BENCH_LOCK_PREFIX + k for k in sorted(bench or []))]
    held: list[Any] = []
    try:
        for name in names:
            lock = Lock(name)
            _acquire(lock)
            held.append(lock)
        yield
    finally:
        for lock in reversed(held):
            lock.release()


def _acquire(lock: Any) -> None:
    """Take a Dask lock, handing the worker thread back while it waits."""
    from distributed import rejoin, secede

    if not lock.acquire(blocking=False):
        secede()
        try:
            lock.acquire()
        finally:
            rejoin()


def set_aside_unreadable(path: Path) -> str | None:
    """Rename a run file that cannot be read (damaged on disk; with mtj-hil 0.1 also a
    process killed while creating it) to ``<name>.unreadable-<time>``, with its journal, so
    the task can start afresh; returns the new name. A file another process is writing
    (holding its writer lease) is never touched: the task fails instead, naming it.

    Raises:
        StoreError: another process writes the run file now.
    """
    if not path.exists():
        return None
    if writer_active(path):
        raise StoreError(f"{path} is being written by another process (writer lease held)")
    try:
        RunFile.open(path, "r").close()
    except StoreError:
        if writer_active(path):  # taken meanwhile: still not ours to move
            raise
        stamp = _stamp().replace(":", "")
        aside = path.with_name(f"{path.name}.unreadable-{stamp}")
        path.rename(aside)
        parts = parts_dir(path)
        if parts.exists():
            parts.rename(parts.with_name(f"{parts.name}.unreadable-{stamp}"))
        return str(aside)
    return None


def execute_task(task: Task, stop_event: str | None = None) -> dict[str, Any]:
    """Run ``task`` with its kind and return its outcome: ``status`` (``completed`` or
    ``failed``), ``error``, ``summary``, ``checksum`` (SHA-256 of the run file), ``digest``
    (of its numbers), ``run_id``, ``git_revision``, ``worker``, ``host``, ``pid``,
    ``started`` and ``ended`` (UTC, ms; the span the task held its station, if any) and
    ``warnings`` (one-line texts, :func:`relayed_warnings`). Errors of the task are returned, not raised, so one failure does
    not stop the others (Ctrl-C and a dying process still stop it). A run file that does
    not open is set aside first (see :func:`set_aside_unreadable`); the client has already
    refused to run a task whose completed run file changed after it was indexed.
    ``stop_event`` names the Dask event the client sets to stop its tasks
    (:mod:`mtj_hil.campaigns.remote_stop`); a task stopped by it is returned ``failed``."""
    kind = get_kind(task.kind)
    out: dict[str, Any] = {
        "worker": _worker_address() or "local",
        "host": platform.node(),
        "pid": os.getpid(),
    }
    with relayed_warnings() as said, stopped_by_client(stop_event) as watch:
        try:
            _execute(kind, task, out)
        except StopSignal as exc:
            if not watch.requested:
                raise  # a signal of this process: it stops the process, not just the task
            out["status"] = "failed"
            out["error"] = (
                f"stopped when the campaign's client was stopped ({exc.name}): the run file "
                "is marked aborted; run the campaign again to finish it"
            )
            out.setdefault("started", _stamp())
            out["ended"] = _stamp()
    out["warnings"] = said
    return out


def _execute(kind: Any, task: Task, out: dict[str, Any]) -> None:
    """The body of :func:`execute_task`: fills ``out``."""
    try:
        with station_lock(task.station, bench_keys(task)):
            out["started"] = _stamp()
            aside = set_aside_unreadable(Path(task.run_file))
            try:
                out["summary"] = kind.run(task)
                if aside:
                    out["summary"]["set_aside"] = aside
            finally:
                out["ended"] = _stamp()
        path = Path(task.run_file)
        out["checksum"] = file_checksum(path)
        out["digest"] = kind.digest(path)
        with RunFile.open(path, "r") as run:
            attrs = run.attrs
        out["run_id"] = str(attrs.get("run_id", ""))
        out["git_revision"] = str(attrs.get("git_revision", ""))
        out["status"], out["error"] = "completed", ""
    except Exception as exc:
        out["status"], out["error"] = "failed", f"{type(exc).__name__}: {exc}"
        out.setdefault("started", _stamp())
        out.setdefault("ended", out["started"])
