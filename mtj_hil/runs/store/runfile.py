"""HDF5 run files: one file per run, provenance on the root, units on every dataset, and
crash consistency: a change once committed survives a kill at any instant, a power cut, a
full disk and a failed write.

How (see docs/architecture.md, "Run files that survive anything"):

- The run file is only ever written whole (:mod:`mtj_hil.fileio.atomic`: aside, ``fsync``,
  rename), as a checksummed HDF5 image (:mod:`mtj_hil.runs.store.image`). HDF5 never writes
  to it in place, so no kill can leave its metadata half-updated.
- While a run goes, each commit (:meth:`RunFile.flush`: an array's data, a status) is a
  small checksummed part in ``<run file>.parts/`` (:mod:`mtj_hil.runs.store.journal`).
  Readers and resume replay the parts over the file; the writer folds them into a new
  whole file when it ends (and on resume), then removes them.
- One writer at a time holds the file's lease (:mod:`mtj_hil.runs.store.lease`).
- A failed write raises :class:`~mtj_hil.errors.StoreError` naming the file and the cause;
  what was committed before stays, and the run resumes once the cause is fixed.

A run's ``status`` is ``running`` until it ends as ``completed``, ``aborted`` (interrupted;
resumable) or ``failed`` (an error; resumable once the cause is fixed). ``completed`` is only
ever written together with the whole file.
"""

from __future__ import annotations

import json
import platform
import shlex
import sys
import uuid
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mtj_hil.errors import StoreError, as_typed, blank_edge_hint
from mtj_hil.fileio.atomic import atomic_write, begins_with, error_text, remove_stale_temps
from mtj_hil.instruments.bus.transport import defer_sigint
from mtj_hil.runs.store import nexus
from mtj_hil.runs.store.image import copy_image, encode, new_image, seal
from mtj_hil.runs.store.journal import (
    Op,
    RecoveryWarning,
    apply,
    journal_left_behind,
    list_parts,
    parts_dir,
    remove_parts,
    set_aside,
    write_part,
)
from mtj_hil.runs.store.lease import (
    WriterLease,
    lease_path,
    run_file_place,
    through_link,
    tidy_after_dead_writer,
    writer_active,
)
from mtj_hil.runs.store.provenance import git_revision, now_iso, package_version, user
from mtj_hil.runs.store.reading import load_tree, orphaned_parts
from mtj_hil.runs.store.structure import FORMAT, FORMAT_VERSION, STATUSES, check_root
from mtj_hil.runs.store.write_errors import second_writer, write_failure

FINAL = ("completed", "aborted", "failed")


@dataclass
class _Writer:
    """What a writing session holds: the lease, the journal position and the ops not yet
    committed. ``clean``: the file on disk equals the tree in memory."""

    lease: WriterLease
    run_id: str
    seq: int = 0
    pending: list[Op] = field(default_factory=list)
    clean: bool = False
    failed: StoreError | None = None


class RunFile:
    """An open run file. Use :meth:`create` for a new run and :meth:`open` for an existing one.

    ``h5`` is the run's tree (the file with its committed parts replayed), held in memory:
    read it freely. Change it only through :meth:`append`, :meth:`write`,
    :meth:`set_attrs`, :meth:`truncate`, :meth:`delete` and :meth:`set_status`, which
    journal each change; :meth:`flush` commits them durably. Attributes are plain HDF5
    attributes on the root group; JSON is used for nested values (station snapshot, plan).
    Datasets carry a ``unit`` attribute.
    """

    def __init__(self, h5: h5py.File, path: Path, writer: _Writer | None = None) -> None:
        self.h5 = h5
        self.path = path
        self._writer = writer

    @property
    def held(self) -> bool:
        """Opened read-only while another process writes the run (its writer lease is live)."""
        return self._writer is None and writer_active(self.path)

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
        """Create a new run file with its provenance; status ``running``. On return the file
        exists whole on disk.

        Raises:
            StoreError: the path exists, is being created by another process, or cannot be
                written (naming the cause).
        """
        path = Path(path)
        try:
            path = run_file_place(path)  # (a link's target, its name checked too)
            if path.exists():
                raise StoreError(
                    f"{path} already exists; choose another output path, or resume it with --resume"
                )
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise StoreError(f"cannot create run file {path}: {error_text(exc)}") from exc
        lease = WriterLease.acquire(path)
        try:
            if path.exists():
                raise StoreError(f"{path} was created by another process meanwhile")
            remove_stale_temps(path.parent, path.name)
            orphaned_parts(path)
            run_id = str(uuid.uuid4())
            attrs: dict[str, Any] = {
                "format": FORMAT,
                "format_version": FORMAT_VERSION,
                "run_id": run_id,
                "kind": kind,
                "status": "running",
                "started": now_iso(),
                "ended": "",
                "status_reason": "",
                "resumed": json.dumps([]),
                "operator": operator or user(),
                "die_id": die_id,
                "seed": "" if seed is None else str(seed),
                "station": json.dumps(station or {}, default=str),
                "package_version": package_version(),
                "git_revision": git_revision(),
                "python": sys.version.split()[0],
                "host": platform.node(),
                "command": shlex.join(map(as_typed, sys.argv)),  # quoted: the resume hint splits it
                "journal_seq": 0,
            }
            for key, value in (extra or {}).items():
                attrs[key] = value if _native(value) else json.dumps(value, default=_plain)
            run = cls(new_image(), path, _Writer(lease, run_id))
            run.set_attrs("", **attrs)
            nexus.start(run.h5)
            run._fold(exclusive=True)
        except BaseException:
            lease.release()
            raise
        return run

    @classmethod
    def open(cls, path: str | Path, mode: str = "r", kind: str | None = None) -> RunFile:
        """Open an existing run file: ``mode`` ``"r"`` to read, ``"a"`` to resume or change
        it (taking its writer lease).

        Raises:
            StoreError: missing, unreadable, damaged (naming the damage), not an mtj-hil
                run file, of another ``kind``, or (``"a"``) being written by another process.
        """
        path = through_link(Path(path))
        if mode not in ("r", "a", "r+"):
            raise ValueError(f"mode must be 'r' or 'a', got {mode!r}")
        if not path.exists():
            raise StoreError(f"run file {path} does not exist{blank_edge_hint(path)}")
        if mode == "r":
            tree = load_tree(path, writable=False)
            run = cls(tree.h5, path)
            # tidy only after a writer killed once the run was written whole: the lease of
            # one killed mid-run is the evidence of its interruption, kept for the resume
            status = tree.h5.attrs.get("status", "")
            ended = (status.decode() if isinstance(status, bytes) else status) != "running"
            if ended and (parts_dir(path).exists() or lease_path(path).exists()):
                tidy_after_dead_writer(path, tree.folded)
        else:
            lease = WriterLease.acquire(path)
            try:
                remove_stale_temps(path.parent, path.name)
                remove_stale_temps(parts_dir(path))
                tree = load_tree(path, writable=True)
                note = journal_left_behind(path, tree.h5.attrs)
                if note:
                    warnings.warn(note, RecoveryWarning, stacklevel=2)
                set_aside(tree.untrusted)
                try:  # the writer: a disk that fails here is not measured onto
                    remove_parts(path, tree.folded, strict=True)
                except OSError as exc:
                    tree.h5.close()
                    raise StoreError(
                        f"cannot tidy the journal of run file {path}: {error_text(exc)}; "
                        "the data committed before is kept: fix the cause, then resume"
                    ) from exc
                h5 = tree.h5 if tree.checksummed else _upgraded(tree.h5)
                writer = _Writer(lease, str(h5.attrs.get("run_id", "")), seq=tree.last_seq)
                writer.clean = tree.replayed == 0
                run = cls(h5, path, writer)
            except BaseException:
                lease.release()
                raise
        try:
            run._check(kind)
        except StoreError:
            run.close()
            raise
        return run

    def _check(self, kind: str | None) -> None:
        check_root(self.h5, self.path, kind)

    @property
    def writable(self) -> bool:
        """Whether this process writes the run (holds its lease)."""
        return self._writer is not None

    def close(self) -> None:
        """Close the run. A writer first writes the whole file (folding every change in)
        and gives its lease back.

        Raises:
            StoreError: the whole file could not be written (the committed changes stay in
                the journal; the run resumes). Not raised again after an earlier failure.
        """
        writer, self._writer = self._writer, None
        try:
            if writer is not None and writer.failed is None and not writer.clean:
                self._writer = writer
                try:
                    self.flush()
                    self._fold()
                finally:
                    self._writer = None
        finally:
            if self.h5.id.valid:
                self.h5.close()
            if writer is not None:
                writer.lease.release()

    def __enter__(self) -> RunFile:
        return self

    def __exit__(self, exc_type: type | None, exc: BaseException | None, tb: object) -> None:
        """Close the file; a read error inside the block becomes a StoreError naming the
        file and what in it cannot be read (see :func:`mtj_hil.runs.store.verify.unreadable`)."""
        try:
            if exc is not None and isinstance(
                exc, OSError | RuntimeError | KeyError | ValueError | TypeError
            ):
                from mtj_hil.runs.store.damage import unreadable_in

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
        """Record the run's status (and why), with the end time for a final status.

        A final status is written with the whole file; ``aborted`` and ``failed`` are
        committed to the journal first, so they stay even if the whole file cannot be
        written. Does nothing once a write of this session has failed.

        Raises:
            StoreError: the status could not be written.
        """
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        if self._writer is not None and self._writer.failed is not None:
            return
        self.set_attrs(
            "", status=status, status_reason=reason, ended="" if status == "running" else now_iso()
        )
        if status in FINAL:
            nexus.finish(self.h5)
            if status != "completed":
                self.flush()
            self._fold()
        else:
            self.flush()

    def mark_resumed(self, operator: str | None = None) -> None:
        """Record a resume (time, previous status, who resumed it: ``operator`` or the login
        name) and set the status back to running."""
        history = json.loads(self.h5.attrs.get("resumed", "[]"))
        history.append(
            {"at": now_iso(), "previous_status": self.status, "operator": operator or user()}
        )
        self.set_attrs("", resumed=json.dumps(history))
        self.set_status("running")

    # -- changes ---------------------------------------------------------------------------

    def _change(self, op: Op) -> None:
        writer = self._need_writer()
        with defer_sigint():  # the tree and the journal of changes stay in step
            try:
                apply(self.h5, op)
            except ValueError as exc:
                raise StoreError(f"{self.path}:{op.path}: {exc}") from exc
            writer.pending.append(op)
            writer.clean = False

    def _need_writer(self) -> _Writer:
        if self._writer is None:
            raise StoreError(f"{self.path} is open for reading; open it with mode 'a' to change it")
        if self._writer.failed is not None:
            raise self._writer.failed
        return self._writer

    def append(self, path: str, rows: np.ndarray, unit: str, description: str = "") -> None:
        """Append ``rows`` (first axis) to a resizable dataset, creating it on first use.

        Not durable until :meth:`flush`; call it once a consistent set of changes is done.

        Raises:
            StoreError: the rows have another shape than the dataset's.
        """
        meta = {"unit": unit, "description": description}
        self._change(Op("append", path, np.asarray(rows), meta))

    def truncate(self, path: str, length: int) -> None:
        """Cut a resizable dataset back to ``length`` rows (drop a half-written append)."""
        ds = self.h5.get(path)
        if ds is not None and ds.shape[0] > length:
            self._change(Op("truncate", path, length=length))

    def write(self, path: str, data: np.ndarray, unit: str, description: str = "") -> None:
        """Write (or replace) a whole dataset with its unit."""
        meta = {"unit": unit, "description": description}
        self._change(Op("write", path, np.asarray(data), meta))

    def set_attrs(self, path: str, **attrs: Any) -> None:
        """Set attributes of the group ``path`` (``""``: the root; created if missing); text
        is stored as the user typed it (:func:`mtj_hil.errors.as_typed`: a path typed in the
        C locale holds surrogates, which HDF5 refuses)."""
        typed = {k: as_typed(v) if isinstance(v, str) else v for k, v in attrs.items()}
        self._change(Op("attrs", path, meta=typed))

    def delete(self, path: str) -> None:
        """Remove a dataset or group (nothing if absent)."""
        self._change(Op("delete", path))

    def read(self, path: str, index: Any = ()) -> np.ndarray:
        """A dataset (or ``index`` of it) as a plain numpy array.

        Raises:
            StoreError: no such dataset, or its data cannot be read (naming file and dataset).
        """
        ds = self.h5.get(path)
        if not isinstance(ds, h5py.Dataset):
            raise StoreError(f"{self.path} has no dataset {path!r}")
        try:
            return ds[index]
        except (OSError, ValueError, IndexError) as exc:
            raise StoreError(f"{self.path}: dataset {path!r} cannot be read: {exc}") from exc

    def unit(self, path: str) -> str:
        return str(self.h5[path].attrs.get("unit", ""))

    def flush(self) -> None:
        """Commit the changes made since the last commit, durably (one journal part).

        Raises:
            StoreError: the part could not be written (naming the file and the cause); the
                session writes nothing more, what was committed before stays.
        """
        writer = self._need_writer()
        if not writer.pending:
            return
        with defer_sigint():  # a stop signal waits for the commit, like a bus transaction
            try:
                write_part(self.path, writer.run_id, writer.seq + 1, writer.pending)
            except FileExistsError as exc:  # the part's number taken: another writer
                writer.failed = second_writer(self.path, exc)
                raise writer.failed from exc
            except OSError as exc:
                self._fail(exc, "commit its changes to")
            writer.seq += 1
            writer.pending = []

    def _fold(self, exclusive: bool = False) -> None:
        """Write the whole tree as the run file and drop the parts folded into it."""
        writer = self._need_writer()
        with defer_sigint():  # a stop signal waits until the file is written whole
            self.h5.attrs["journal_seq"] = writer.seq
            # where its parts go: a resume of the file moved without them can say so
            self.h5.attrs["journal_folder"] = as_typed(str(parts_dir(self.path.absolute())))
            try:
                seal(self.h5)
                data = encode(self.h5)
                atomic_write(self.path, data, exclusive=exclusive)
            except FileExistsError as exc:
                raise StoreError(f"{self.path} was created by another process meanwhile") from exc
            except OSError as exc:  # in place all the same if only the folder's flush failed
                if self.status == "completed" and begins_with(self.path, data[:512]):
                    self._fail(exc, "flush the folder of", after="complete")
                self._fail(exc, "write")
            writer.pending = []
            writer.clean = True
            folded = [p for seq, p in list_parts(self.path) if seq <= writer.seq]
            try:
                remove_parts(self.path, folded, strict=True)
            except OSError as exc:  # the data is safe in the file; the disk is not
                if self.status == "completed":  # nothing is left to resume
                    self._fail(exc, "tidy the journal of", after="complete")
                self._fail(exc, "tidy the journal of")

    def _fail(self, exc: OSError, what: str, after: str = "") -> None:
        """Stop the session's writing on ``exc``, raising the StoreError that says so
        (:func:`~mtj_hil.runs.store.write_errors.write_failure`)."""
        error = write_failure(self.path, self.h5, exc, what, after)
        if self._writer is not None:
            self._writer.failed = error
        raise error from exc


def _plain(value: Any) -> Any:
    """A numpy scalar or array in a plan as the Python number or list JSON stores.

    Raises:
        TypeError: anything else JSON cannot store (as ``json.dumps`` would)."""
    if isinstance(value, np.generic | np.ndarray):
        return value.tolist()
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def _native(value: Any) -> bool:
    """Whether HDF5 stores ``value`` as an attribute as it is: text, a float, or an integer
    within 64 bits (a larger one, e.g. a huge --die index, is stored as its JSON text)."""
    if isinstance(value, int):
        return -(2**63) <= value < 2**63
    return isinstance(value, str | float)


def _upgraded(h5: h5py.File) -> h5py.File:
    """A file of mtj-hil 0.1 (no checksums) copied into a fresh image that can be written
    whole (the copy gets checksums when it is written)."""
    try:
        return copy_image(h5)
    finally:
        h5.close()
