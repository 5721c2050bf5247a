"""HDF5 run files: one file per run, provenance on the root, units on every dataset.

Streams are chunked, resizable datasets appended as the run goes and flushed after every
append, so a killed process loses at most the append in progress. A run's ``status`` is
``running`` until it ends as ``completed``, ``aborted`` (interrupted; resumable) or
``failed`` (an error; resumable once the cause is fixed).
"""

from __future__ import annotations

import getpass
import json
import os
import platform
import subprocess
import sys
import uuid
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any, Self

import h5py
import numpy as np

from mtj_hil.errors import StoreError

FORMAT = "mtj-hil-run"
FORMAT_VERSION = 1
STATUSES = ("running", "completed", "aborted", "failed")


def now_iso() -> str:
    """The current UTC time in ISO 8601."""
    return datetime.now(UTC).isoformat(timespec="seconds")


def package_version() -> str:
    try:
        return metadata.version("mtj-hil")
    except metadata.PackageNotFoundError:
        return "unknown"


def git_revision() -> str:
    """The git revision of the source tree this package runs from, or ``"unknown"``."""
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    rev = out.stdout.strip()
    if out.returncode != 0 or not rev:
        return "unknown"
    dirty = subprocess.run(
        ["git", "status", "--porcelain", "--untracked-files=no"],
        cwd=Path(__file__).resolve().parent,
        capture_output=True,
        text=True,
        timeout=5,
        check=False,
    ).stdout.strip()
    return rev + ("+dirty" if dirty else "")


class RunFile:
    """An open run file. Use :meth:`create` for a new run and :meth:`open` for an existing one.

    Attributes are plain HDF5 attributes on the root group; JSON is used for nested values
    (station snapshot, plan). Datasets carry a ``unit`` attribute.
    """

    def __init__(self, h5: h5py.File, path: Path, held: bool = False) -> None:
        self.h5 = h5
        self.path = path
        self.held = held
        """Opened read-only while another process holds the file's write lock (a run
        being written now)."""

    # -- opening ---------------------------------------------------------------------------

    @classmethod
    def create(
        cls,
        path: str | Path,
        kind: str,
        *,
        die_id: str,
        seed: int | None = None,
        station: dict[str, Any] | None = None,
        operator: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> RunFile:
        """Create a new run file with its provenance; status ``running``.

        Raises:
            StoreError: the path exists or cannot be written.
        """
        path = Path(path)
        if path.exists():
            raise StoreError(
                f"{path} already exists; choose another output path, or resume it with --resume"
            )
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            h5 = h5py.File(path, "w-")
        except OSError as exc:
            raise StoreError(f"cannot create run file {path}: {exc}") from exc
        attrs = h5.attrs
        attrs["format"] = FORMAT
        attrs["format_version"] = FORMAT_VERSION
        attrs["run_id"] = str(uuid.uuid4())
        attrs["kind"] = kind
        attrs["status"] = "running"
        attrs["started"] = now_iso()
        attrs["ended"] = ""
        attrs["status_reason"] = ""
        attrs["resumed"] = json.dumps([])
        attrs["operator"] = operator or _user()
        attrs["die_id"] = die_id
        attrs["seed"] = "" if seed is None else str(seed)
        attrs["station"] = json.dumps(station or {}, default=str)
        attrs["package_version"] = package_version()
        attrs["git_revision"] = git_revision()
        attrs["python"] = sys.version.split()[0]
        attrs["host"] = platform.node()
        attrs["writer_host"] = platform.node()
        attrs["writer_pid"] = os.getpid()
        attrs["command"] = " ".join(sys.argv)
        for key, value in (extra or {}).items():
            attrs[key] = value if isinstance(value, str | int | float) else json.dumps(value)
        h5.flush()
        return cls(h5, path)

    @classmethod
    def open(cls, path: str | Path, mode: str = "r", kind: str | None = None) -> RunFile:
        """Open an existing run file (``mode`` ``"r"`` to read, ``"a"`` to resume).

        Raises:
            StoreError: missing, unreadable, not an mtj-hil run file, or of another ``kind``.
        """
        path = Path(path)
        if not path.exists():
            raise StoreError(f"run file {path} does not exist")
        held = False
        try:
            h5 = h5py.File(path, mode)
        except OSError as exc:
            if mode != "r" or "lock" not in str(exc):
                from mtj_hil.runs.store.verify import open_failure

                raise StoreError(open_failure(path, exc)) from exc
            # another process writes it: read what it has flushed, without the lock
            held = "errno = 11" in str(exc) or "unavailable" in str(exc)
            try:
                h5 = h5py.File(path, "r", locking=False)
            except OSError as exc2:
                raise StoreError(f"cannot open {path}: another process holds it ({exc2})") from exc2
        if h5.attrs.get("format") != FORMAT:
            h5.close()
            raise StoreError(f"{path} is an HDF5 file but not an mtj-hil run file")
        try:
            version = int(h5.attrs.get("format_version", 0))
        except (TypeError, ValueError):
            h5.close()
            raise StoreError(f"{path} has a malformed format_version attribute") from None
        if version > FORMAT_VERSION:
            h5.close()
            raise StoreError(
                f"{path} has run-file format {version}; this mtj-hil reads up to {FORMAT_VERSION}"
            )
        run = cls(h5, path, held=held)
        if kind is not None and run.kind != kind:
            found = run.kind
            h5.close()
            raise StoreError(f"{path} is a {found!r} run, not a {kind!r} run")
        return run

    def close(self) -> None:
        if self.h5.id.valid:
            self.h5.close()

    def __enter__(self) -> RunFile:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        """Close the file; a read error inside the block becomes a StoreError naming the
        file and what in it cannot be read (see :func:`mtj_hil.runs.store.verify.unreadable`)."""
        try:
            if exc is not None and isinstance(
                exc, OSError | RuntimeError | KeyError | ValueError | TypeError
            ):
                from mtj_hil.runs.store.verify import unreadable_in

                found = unreadable_in(self, exc)
                if found:
                    raise StoreError(found) from exc
        finally:
            self.close()

    # -- provenance and status -------------------------------------------------------------

    @property
    def kind(self) -> str:
        return str(self.h5.attrs["kind"])

    @property
    def status(self) -> str:
        return str(self.h5.attrs["status"])

    @property
    def attrs(self) -> dict[str, Any]:
        """Root attributes with JSON values decoded."""
        out: dict[str, Any] = {}
        for key, value in self.h5.attrs.items():
            if isinstance(value, bytes):
                value = value.decode()
            if key in ("station", "resumed", "plan"):
                value = json.loads(value) if value else {}
            elif isinstance(value, np.generic):
                value = value.item()
            out[key] = value
        return out

    def set_status(self, status: str, reason: str = "") -> None:
        """Record the run's status (and why), with the end time for a final status."""
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        self.h5.attrs["status"] = status
        self.h5.attrs["status_reason"] = reason
        self.h5.attrs["ended"] = "" if status == "running" else now_iso()
        self.h5.flush()

    def mark_resumed(self) -> None:
        """Record a resume (time, previous status) and set the status back to running."""
        history = json.loads(self.h5.attrs.get("resumed", "[]"))
        history.append({"at": now_iso(), "previous_status": self.status})
        self.h5.attrs["resumed"] = json.dumps(history)
        self.h5.attrs["writer_host"] = platform.node()
        self.h5.attrs["writer_pid"] = os.getpid()
        self.set_status("running")

    # -- datasets --------------------------------------------------------------------------

    def append(self, path: str, rows: np.ndarray, unit: str, description: str = "") -> None:
        """Append ``rows`` (first axis) to a resizable dataset, creating it on first use.

        Does not flush; call :meth:`flush` once a consistent set of appends is done.
        """
        rows = np.asarray(rows)
        ds = self.h5.get(path)
        if ds is None:
            ds = self.h5.create_dataset(
                path,
                shape=(0, *rows.shape[1:]),
                maxshape=(None, *rows.shape[1:]),
                dtype=rows.dtype,
                chunks=(1, *rows.shape[1:]),
                compression="gzip",
                compression_opts=1,
                fletcher32=True,
            )
            ds.attrs["unit"] = unit
            ds.attrs["description"] = description
        if ds.shape[1:] != rows.shape[1:]:
            raise StoreError(
                f"{self.path}:{path} holds rows of shape {ds.shape[1:]}, not {rows.shape[1:]}"
            )
        n = ds.shape[0]
        ds.resize(n + rows.shape[0], axis=0)
        ds[n:] = rows

    def truncate(self, path: str, length: int) -> None:
        """Cut a resizable dataset back to ``length`` rows (drop a half-written append)."""
        ds = self.h5.get(path)
        if ds is not None and ds.shape[0] > length:
            ds.resize(length, axis=0)

    def write(self, path: str, data: np.ndarray, unit: str, description: str = "") -> None:
        """Write (or replace) a whole dataset with its unit."""
        if path in self.h5:
            del self.h5[path]
        data = np.asarray(data)
        checked = data.ndim >= 1 and data.size > 0 and data.dtype.kind in "biufc"
        ds = self.h5.create_dataset(path, data=data, fletcher32=checked)
        ds.attrs["unit"] = unit
        ds.attrs["description"] = description

    def read(self, path: str) -> np.ndarray:
        """A dataset as a plain numpy array.

        Raises:
            StoreError: no such dataset in this run.
        """
        if path not in self.h5:
            raise StoreError(f"{self.path} has no dataset {path!r}")
        return self.h5[path][()]

    def unit(self, path: str) -> str:
        return str(self.h5[path].attrs.get("unit", ""))

    def flush(self) -> None:
        self.h5.flush()


def _user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


class RunSink:
    """What every protocol sink over a run file shares: creating and resuming the file,
    the stored plan, the finished-arrays index and closing.

    A subclass names its run ``KIND`` and the ``GROUP`` its streams live under, and drops
    rows a killed process left half-written in :meth:`_repair` (called on every open).
    """

    KIND: str = ""
    GROUP: str = ""

    def __init__(self, run: RunFile) -> None:
        self.run = run
        self._repair()

    @classmethod
    def create(
        cls, path: str | Path, *, plan: dict[str, Any], layout: dict[str, Any], **provenance: Any
    ) -> Self:
        """A new run file of this kind (see :meth:`RunFile.create` for ``provenance``)."""
        return cls(
            RunFile.create(path, cls.KIND, extra={"plan": plan, "layout": layout}, **provenance)
        )

    @classmethod
    def resume(cls, path: str | Path, die_id: str) -> Self:
        """Reopen an interrupted run of die ``die_id`` to finish it.

        Raises:
            StoreError: not a run of this kind, another die, or already completed.
        """
        run = RunFile.open(path, "a", kind=cls.KIND)
        if run.attrs["die_id"] != die_id:
            found = run.attrs["die_id"]
            run.close()
            raise StoreError(f"{path} is a run of die {found!r}, not {die_id!r}")
        if run.status == "completed":
            run.close()
            raise StoreError(f"{path} is already completed; nothing to resume")
        sink = cls(run)
        run.mark_resumed()
        return sink

    @property
    def plan(self) -> dict[str, Any]:
        """The plan recorded when the run was created (JSON data)."""
        return json.loads(self.run.h5.attrs["plan"])

    def _repair(self) -> None:
        """Drop rows of an append a killed process left half-written (none by default)."""

    def _writable(self) -> bool:
        """Whether there is anything to repair: the file is open for writing and has streams."""
        return self.run.h5.mode != "r" and self.GROUP in self.run.h5

    def completed_arrays(self) -> list[int]:
        """Arrays finished, in the order they were measured (``GROUP/array_index``)."""
        path = f"{self.GROUP}/array_index"
        return [int(a) for a in self.run.h5[path][()]] if path in self.run.h5 else []

    def close(self) -> None:
        self.run.close()
