"""The campaign index: one HDF5 file listing every task with its status, run file,
checksum, provenance, worker, start/end and error.

Only the client process writes it (workers return their outcome). Every update writes the
whole index aside and renames it into place (:func:`mtj_hil.fileio.atomic.atomic_write`), as a
checksummed image (:mod:`mtj_hil.runs.store.image`): a kill at any instant leaves the old
index or the new one, never half of each, and ``mtj-hil campaign status`` may read it while
a campaign runs. A lock file beside it (``flock``, released by the kernel if the process
dies) keeps two ``campaign run`` processes off one index.

Reading is bounded in time: a checksummed index is verified before HDF5 parses a byte of it
(damage is reported, never parsed); an index written by mtj-hil 0.1 (no checksum) is parsed
by a separate process with a time limit (:data:`LEGACY_READ_TIMEOUT`), because damaged HDF5
metadata can make the HDF5 library loop forever. An index that cannot be read raises
:class:`IndexUnreadable`; :mod:`mtj_hil.campaigns.rebuild` rebuilds it from the run files.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mtj_hil.errors import StoreError, as_typed
from mtj_hil.fileio.atomic import atomic_write, error_text
from mtj_hil.fileio.locks import flock_held
from mtj_hil.runs.store.attribute_values import CAMPAIGN_FORMAT
from mtj_hil.runs.store.image import (
    ImageDamaged,
    encode,
    has_header,
    new_image,
    open_image,
    read_file,
    verify,
)
from mtj_hil.runs.store.runfile import git_revision, now_iso, package_version

FORMAT = CAMPAIGN_FORMAT
FORMAT_VERSION = 2
"""2: the task records are one dataset ``tasks`` of JSON texts (one per task), which writes
in milliseconds for thousands of tasks; 1 (mtj-hil 0.1): a group per task with the fields as
attributes, still read."""
STATUSES = ("pending", "running", "completed", "failed")
FIELDS = (
    "id",
    "kind",
    "group",
    "run_file",
    "params_hash",
    "status",
    "checksum",
    "digest",
    "worker",
    "host",
    "pid",
    "started",
    "ended",
    "error",
    "attempts",
    "run_id",
    "git_revision",
    "summary",
)
"""Attributes of each task record (strings; ``attempts`` and ``pid`` integers)."""
PARAMS_SCHEME = 2
"""How the task records' ``params_hash`` are made, in the header of an index a ``campaign
run`` opened: 2, task parameters with the digests of the files they load. An index without
it (before) may hold hashes of parameters spelled otherwise, so its completed records are
shown as completed (:func:`owned_records` cannot tell a changed task there)."""
LEGACY_READ_TIMEOUT = 30.0
"""Seconds a separate process may take to read an index written by mtj-hil 0.1."""

Records = dict[str, dict[str, Any]]


class IndexUnreadable(StoreError):
    """The index exists but cannot be read (damaged, truncated, not HDF5); the message says
    why. It can be rebuilt from the run files (:mod:`mtj_hil.campaigns.rebuild`)."""


def file_checksum(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    return value.item() if isinstance(value, np.generic) else value


def parse(h5: Any) -> tuple[dict[str, Any], Records]:
    """Header attributes and task records (``summary`` still JSON text) of an open index.

    Raises:
        KeyError, ValueError, OSError: not a readable campaign index.
    """
    header = {k: _plain(v) for k, v in h5.attrs.items()}
    records = {}
    tasks = h5["tasks"]
    if isinstance(tasks, h5py.Dataset):  # format 2
        for text in tasks.asstr()[()]:
            d = json.loads(text)
            records[str(d["id"])] = d
        return header, records
    for rec in tasks.values():  # format 1: a group per task
        d = {k: _plain(v) for k, v in rec.attrs.items()}
        records[str(d["id"])] = d
    return header, records


class CampaignIndex:
    """The index file at ``path`` (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self._held: tuple[dict[str, Any], Records] | None = None
        """Header and records last written while :meth:`exclusive` holds the index."""
        self._locked = False

    # -- reading ---------------------------------------------------------------------------

    def _read(self) -> tuple[dict[str, Any], Records]:
        if self._held is not None:
            return self._held
        try:
            data = read_file(self.path)
        except FileNotFoundError as exc:
            raise StoreError(
                f"campaign index {self.path} does not exist; run the campaign first"
            ) from exc
        except OSError as exc:
            raise IndexUnreadable(
                f"cannot read campaign index {self.path}: {error_text(exc)}"
            ) from exc
        if not has_header(data):
            return self._read_legacy()
        try:
            verify(data)
            with open_image(data) as h5:
                if h5.attrs.get("format") != FORMAT:
                    raise StoreError(
                        f"{self.path} is an HDF5 file but not an mtj-hil campaign index"
                    )
                return parse(h5)
        except ImageDamaged as exc:
            raise IndexUnreadable(f"campaign index {self.path} is damaged: {exc}") from exc
        except (OSError, KeyError, ValueError) as exc:
            raise IndexUnreadable(f"campaign index {self.path} cannot be read: {exc}") from exc

    def _read_legacy(self) -> tuple[dict[str, Any], Records]:
        """An index of mtj-hil 0.1 (no checksum), read by a separate process in bounded time."""
        try:
            out = subprocess.run(
                [sys.executable, "-m", "mtj_hil.campaigns.index_reader", str(self.path)],
                capture_output=True,
                text=True,
                timeout=LEGACY_READ_TIMEOUT,
                check=False,
            )
        except subprocess.TimeoutExpired as exc:
            raise IndexUnreadable(
                f"campaign index {self.path} could not be read within "
                f"{LEGACY_READ_TIMEOUT:g} s (damaged HDF5 metadata)"
            ) from exc
        if out.returncode == 3:
            raise StoreError(f"{self.path} is an HDF5 file but not an mtj-hil campaign index")
        if out.returncode != 0:
            why = (out.stderr.strip().splitlines() or [f"exit status {out.returncode}"])[-1]
            raise IndexUnreadable(f"campaign index {self.path} cannot be read: {why}")
        data = json.loads(out.stdout)
        return data["header"], data["records"]

    def records(self) -> Records:
        """Every task record by task id (plain Python values; ``summary`` decoded).

        Raises:
            StoreError: the index does not exist or is not a campaign index;
                IndexUnreadable: it cannot be read (naming why).
        """
        return self.header_and_records()[1]

    def header_and_records(self) -> tuple[dict[str, Any], Records]:
        """:meth:`header` and :meth:`records` from one read of the index (same errors)."""
        header, records = self._read()
        out = {}
        for task_id, rec in records.items():
            d = dict(rec)
            d["summary"] = json.loads(d["summary"]) if d.get("summary") else {}
            out[task_id] = d
        return dict(header), out

    def header(self) -> dict[str, Any]:
        """Root attributes (name, campaign file, spec text, versions, times)."""
        return dict(self._read()[0])

    # -- writing ---------------------------------------------------------------------------

    def _write(self, header: dict[str, Any], records: Records) -> None:
        h5 = new_image()
        try:
            for key, value in {**header, "format_version": FORMAT_VERSION}.items():
                h5.attrs[key] = value
            texts = [json.dumps(rec, default=str) for rec in records.values()]
            ds = h5.create_dataset("tasks", data=np.array(texts, dtype=h5py.string_dtype()))
            ds.attrs["description"] = "one JSON record per task: " + ", ".join(FIELDS)
            data = encode(h5)
        finally:
            h5.close()
        try:
            atomic_write(self.path, data)
        except OSError as exc:
            raise StoreError(
                f"cannot write campaign index {self.path}: {error_text(exc)} (the previous "
                "index is kept): free space or fix the cause, then run the campaign again "
                "(finished tasks are kept)"
            ) from exc
        if self._locked:
            self._held = (header, records)

    def ensure(
        self, name: str, campaign_file: Path, spec_text: str, tasks: list[dict[str, Any]]
    ) -> None:
        """Create the index if missing and add a ``pending`` record for every task it does
        not list yet.

        An index from before :data:`PARAMS_SCHEME` spelled task parameters otherwise (plan
        settings added since, files without digests): its records cannot tell a changed
        task, so they are taken as they are (as :func:`owned_records` shows them) and their
        ``params_hash`` is rewritten in this scheme. Else an unchanged campaign of an older
        version was refused as "changed since it completed", and its index, upgraded by the
        refused run, then showed those tasks changed.

        Raises:
            StoreError: the file exists but is not a campaign index, is another campaign's
                (by name), or cannot be written; IndexUnreadable: it cannot be read.
        """
        with self._holding():
            older = False
            if self.path.exists():
                header, records = self._read()
                header, records = dict(header), {k: dict(v) for k, v in records.items()}
                older = header.get("params_scheme") != PARAMS_SCHEME
            else:
                header = {"format": FORMAT, "format_version": FORMAT_VERSION, "created": now_iso()}
                records = {}
            found = header.get("name", name)
            if found != name:
                raise StoreError(
                    f"{self.path.parent} holds campaign {found!r}, not {name!r}; give this "
                    "campaign its own out_dir"
                )
            header.update(
                name=name,
                campaign_file=as_typed(str(campaign_file)),
                spec=spec_text,
                package_version=package_version(),
                git_revision=git_revision(),
                updated=now_iso(),
                params_scheme=PARAMS_SCHEME,
            )
            for t in tasks:
                if older and t["id"] in records and "params_hash" in t:
                    records[t["id"]]["params_hash"] = t["params_hash"]
                if t["id"] not in records:
                    rec: dict[str, Any] = {f: 0 if f in ("attempts", "pid") else "" for f in FIELDS}
                    rec["status"] = "pending"
                    rec.update(t)
                    records[t["id"]] = rec
            self._write(header, records)

    def update(self, task_id: str, **values: Any) -> None:
        """Set fields of one task record (``summary`` may be a dict).

        Raises:
            StoreError: the index cannot be written (the previous one is kept).
        """
        with self._holding():
            header, records = self._read()
            rec = dict(records[task_id])
            for k, v in values.items():
                if k not in FIELDS:
                    raise ValueError(f"{k!r} is not a field of a task record")
                if k == "status" and v not in STATUSES:
                    raise ValueError(f"status must be one of {STATUSES}, got {v!r}")
                if k == "summary":
                    v = json.dumps(v, default=str)
                rec[k] = "" if v is None else v
            self._write({**header, "updated": now_iso()}, {**records, task_id: rec})

    @contextmanager
    def _holding(self) -> Iterator[None]:
        if self._locked:
            yield
        else:
            with self.exclusive():
                yield

    def run_active(self) -> bool:
        """Whether a ``campaign run`` holds this index now (its lock, see :meth:`exclusive`);
        False when none does, so records left ``running`` were cut short."""
        return flock_held(self._lock_path) is True

    @property
    def _lock_path(self) -> Path:
        """The lock file a ``campaign run`` holds beside the index."""
        return self.path.with_name(self.path.name + ".lock")

    def _in_use(self, other: str) -> StoreError:
        """The refusal of a second run; ``other`` names the holder."""
        return StoreError(
            f"campaign index {self.path} is in use by another 'campaign run' ({other})"
        )

    def refuse_if_running(self) -> None:
        """Refuse now, as :meth:`exclusive` would, when another ``campaign run`` holds this
        index: asked before a Dask cluster is started for a run that cannot go ahead.

        Raises:
            StoreError: another process runs this campaign now (naming it).
        """
        if flock_held(self._lock_path) is True:
            try:
                other = self._lock_path.read_bytes()[:200].decode(errors="replace").strip()
            except OSError:
                other = "another process"
            raise self._in_use(other)

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the index alone (for a whole ``campaign run``); its records are kept in
        memory meanwhile, so an update writes without reading.

        Raises:
            StoreError: another process runs this campaign now.
        """
        lock_path = self._lock_path
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"cannot lock campaign index {self.path}: {error_text(exc)} (at "
                f"{exc.filename or lock_path}): the campaign's out_dir must be writable"
            ) from exc
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                other = os.pread(fd, 200, 0).decode(errors="replace").strip()
                raise self._in_use(other) from exc
            try:
                os.ftruncate(fd, 0)
                os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
            except OSError:
                pass  # the note for the other process is a courtesy; the lock is what counts
            self._locked = True
            try:
                yield
            finally:
                self._locked = False
                self._held = None
        finally:
            os.close(fd)


def owned_records(spec: Any) -> Records:
    """The task records of the campaign ``spec`` (a :class:`~mtj_hil.campaigns.spec.
    CampaignSpec`) from its index, for reading its results (status, report, export): a
    record whose task's parameters changed since (another profile file, more cycles) gets
    status ``changed``, so results measured with other settings are never shown as this
    file's (in an index of :data:`PARAMS_SCHEME`; older ones are taken as they are). Tasks
    without a record are ``pending``.

    Raises:
        StoreError: the index holds another campaign (by name), or is no campaign index.
        IndexUnreadable: it cannot be read.
    """
    header, records = CampaignIndex(spec.index_path).header_and_records()
    found = header.get("name")
    if found is not None and found != spec.name:
        raise StoreError(
            f"{spec.index_path.parent} holds campaign {found!r}, not {spec.name!r}: its "
            f"results are not {spec.file}'s (give this campaign its own out_dir)"
        )
    checked = header.get("params_scheme") == PARAMS_SCHEME
    for task in spec.tasks:
        rec = records.get(task.id)
        if rec is None:
            records[task.id] = {"id": task.id, "status": "pending", "summary": {}}
        elif checked and not task.matches(rec.get("params_hash")):
            rec["status"] = "changed"
    return records
