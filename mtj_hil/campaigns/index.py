"""The campaign index: one HDF5 file listing every task with its status, run file,
checksum, provenance, worker, start/end and error.

Only the client process writes it (workers return their outcome), each update opened,
written, flushed and closed, so ``mtj-hil campaign status`` can read it while a campaign runs.
A lock file beside it (``flock``, released by the kernel if the process dies) keeps two
``campaign run`` processes off one index.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.runs.store.runfile import git_revision, now_iso, package_version

FORMAT = "mtj-hil-campaign"
FORMAT_VERSION = 1
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


def file_checksum(path: str | Path) -> str:
    """SHA-256 of a file's bytes (hex)."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _key(task_id: str) -> str:
    return task_id.replace("/", ":")


class CampaignIndex:
    """The index file at ``path`` (see the module docstring)."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    @contextmanager
    def _open(self, mode: str) -> Iterator[h5py.File]:
        deadline = time.monotonic() + 10.0
        while True:
            try:
                h5 = h5py.File(self.path, mode)
                break
            except FileNotFoundError as exc:
                raise StoreError(
                    f"campaign index {self.path} does not exist; run the campaign first"
                ) from exc
            except OSError as exc:  # another process has it open for writing
                if time.monotonic() > deadline:
                    raise StoreError(f"cannot open campaign index {self.path}: {exc}") from exc
                time.sleep(0.05)
        try:
            if mode != "w-" and h5.attrs.get("format") != FORMAT:
                raise StoreError(f"{self.path} is an HDF5 file but not an mtj-hil campaign index")
            yield h5
            if mode != "r":
                h5.flush()
        finally:
            h5.close()

    def ensure(
        self, name: str, campaign_file: Path, spec_text: str, tasks: list[dict[str, Any]]
    ) -> None:
        """Create the index if missing and add a ``pending`` record for every task it does
        not list yet.

        Raises:
            StoreError: the file exists but is not a campaign index, is another campaign's
                (by name), or cannot be written.
        """
        if not self.path.exists():
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with self._open("w-") as h5:
                h5.attrs["format"] = FORMAT
                h5.attrs["format_version"] = FORMAT_VERSION
                h5.attrs["created"] = now_iso()
                h5.create_group("tasks")
        with self._open("a") as h5:
            found = h5.attrs.get("name", name)
            if found != name:
                raise StoreError(
                    f"{self.path.parent} holds campaign {found!r}, not {name!r}; give this "
                    "campaign its own out_dir"
                )
            h5.attrs["name"] = name
            h5.attrs["campaign_file"] = str(campaign_file)
            h5.attrs["spec"] = spec_text
            h5.attrs["package_version"] = package_version()
            h5.attrs["git_revision"] = git_revision()
            h5.attrs["updated"] = now_iso()
            grp = h5["tasks"]
            for t in tasks:
                if _key(t["id"]) not in grp:
                    rec = grp.create_group(_key(t["id"]))
                    for f in FIELDS:
                        rec.attrs[f] = 0 if f in ("attempts", "pid") else ""
                    rec.attrs["status"] = "pending"
                    for f, v in t.items():
                        rec.attrs[f] = v

    def records(self) -> dict[str, dict[str, Any]]:
        """Every task record by task id (plain Python values; ``summary`` decoded)."""
        with self._open("r") as h5:
            out = {}
            for rec in h5["tasks"].values():
                d = {
                    k: (v.item() if isinstance(v, np.generic) else v) for k, v in rec.attrs.items()
                }
                d["summary"] = json.loads(d["summary"]) if d.get("summary") else {}
                out[str(d["id"])] = d
            return out

    def header(self) -> dict[str, Any]:
        """Root attributes (name, campaign file, spec text, versions, times)."""
        with self._open("r") as h5:
            return {k: (v.item() if isinstance(v, np.generic) else v) for k, v in h5.attrs.items()}

    def update(self, task_id: str, **values: Any) -> None:
        """Set fields of one task record (``summary`` may be a dict)."""
        with self._open("a") as h5:
            rec = h5["tasks"][_key(task_id)]
            for k, v in values.items():
                if k not in FIELDS:
                    raise ValueError(f"{k!r} is not a field of a task record")
                if k == "status" and v not in STATUSES:
                    raise ValueError(f"status must be one of {STATUSES}, got {v!r}")
                if k == "summary":
                    v = json.dumps(v, default=str)
                rec.attrs[k] = "" if v is None else v
            h5.attrs["updated"] = now_iso()

    @contextmanager
    def exclusive(self) -> Iterator[None]:
        """Hold the index alone for a whole ``campaign run``.

        Raises:
            StoreError: another process runs this campaign now.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = self.path.with_name(self.path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError as exc:
                other = os.pread(fd, 200, 0).decode(errors="replace").strip()
                raise StoreError(
                    f"campaign index {self.path} is in use by another 'campaign run' ({other})"
                ) from exc
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()} on {os.uname().nodename}\n".encode(), 0)
            yield
        finally:
            os.close(fd)
