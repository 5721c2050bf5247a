"""The writer lease of a run file: one process at a time creates or resumes it.

The lease is ``<run file>.writer``, made whole in one step (written aside, then hard-linked
into place, which fails if it exists: safe on network file systems too) and naming its
holder's host and process. The holder also keeps an ``flock`` on it where the file system
offers one, so a lease whose holder died is recognised at once; on file systems without
locks (and with ``HDF5_USE_FILE_LOCKING=FALSE``) the lease still keeps a second writer out,
and a dead holder of this host is recognised by its process id. The lease is removed when
the writer closes the run; one left by a killed process is taken over with a
:class:`~mtj_hil.runs.store.journal.RecoveryWarning`.

This does not rely on HDF5's own file locking: run files are never opened for writing by
HDF5 (see :mod:`mtj_hil.runs.store.runfile`).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import json
import os
import secrets
import socket
import warnings
from pathlib import Path
from typing import Any

from mtj_hil.errors import StoreError
from mtj_hil.fileio.atomic import atomic_write, error_text, fsync_dir, pid_alive
from mtj_hil.fileio.writable import check_new_name, temp_name_headroom
from mtj_hil.runs.store.journal import RecoveryWarning, remove_parts

_NO_LOCKS = {errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL}


def lease_path(run_path: Path) -> Path:
    return run_path.with_name(run_path.name + ".writer")


def check_run_name(run_path: Path) -> None:
    """Refuse a run file path whose folder cannot exist or whose name leaves no room for
    the names written beside it: the lease's temporary copy (``.<name>.writer.tmp-...``)
    and a set-aside journal (``<name>.parts.orphaned-<UTC stamp>``); or whose whole path
    leaves no room for its journal's parts (``<name>.parts/.00000001.h5.tmp-...``).

    Raises:
        OSError: naming the file in the way, or the name's or path's length and the most it
            may have.
    """
    headroom = max(len(".writer") + temp_name_headroom(), len(".parts.orphaned-") + 16)
    part = len(".parts/") + len("00000001.h5") + temp_name_headroom()
    check_new_name(run_path, headroom, max(headroom, part))


def run_file_place(path: Path) -> Path:
    """The file a new run at ``path`` is written to (a symbolic link's target), once both
    names are checked with :func:`check_run_name`.

    Raises:
        StoreError: ``cannot create run file ...``, with :func:`check_run_name`'s cause.
    """
    target = path  # (the name found wanting: the link's, or its target's)
    try:
        check_run_name(path)
        target = through_link(path)
        check_run_name(target)
    except OSError as exc:
        raise StoreError(f"cannot create run file {target}: {error_text(exc)}") from exc
    return target


class WriterLease:
    """A held lease (see the module docstring); :meth:`release` gives it back."""

    def __init__(self, path: Path, fd: int | None, nonce: str) -> None:
        self.path = path
        self.fd = fd
        self.nonce = nonce

    @classmethod
    def acquire(cls, run_path: Path) -> WriterLease:
        """Take the lease of ``run_path``.

        Raises:
            StoreError: another live process holds it (naming it), or it cannot be written.
        """
        path = lease_path(run_path)
        nonce = secrets.token_hex(8)
        record = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "nonce": nonce,
        }
        for _ in range(3):
            try:
                atomic_write(path, json.dumps(record).encode(), exclusive=True)
            except FileExistsError:
                _take_over_if_stale(path, run_path)
                continue
            except OSError as exc:
                raise StoreError(
                    f"cannot take the writer lease {path} of {run_path}: {error_text(exc)}"
                ) from exc
            return cls(path, _lock(path), nonce)
        raise StoreError(f"{run_path} is being taken by another process at this moment; retry")

    def release(self) -> None:
        """Give the lease back (best effort: a lease that cannot be removed is stale later)."""
        try:
            if _holder(self.path).get("nonce") == self.nonce:
                self.path.unlink()
                fsync_dir(self.path.parent)
        except OSError:
            pass
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


def _lock(path: Path) -> int | None:
    """An ``flock`` held on ``path`` for the life of the lease, or None without locks."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        os.close(fd)
        return None
    return fd


def _holder(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (ValueError, OSError):  # no lease (any more), or one being written
        return {}
    return data if isinstance(data, dict) else {}


def lease_holder(run_path: Path) -> dict[str, Any]:
    """Who holds (or last held) the writer lease of ``run_path``: ``{"pid": ..., "host":
    ...}``, empty when there is no lease."""
    return _holder(lease_path(Path(run_path)))


def holder_alive(path: Path) -> bool | None:
    """Whether the process named in the lease ``path`` still holds it: True, False, or None
    when this cannot be told (a holder on another host, on a file system without locks)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        except OSError as exc:
            if exc.errno not in _NO_LOCKS:
                raise
        else:
            fcntl.flock(fd, fcntl.LOCK_UN)
            return False
    finally:
        os.close(fd)
    holder = _holder(path)
    if holder.get("host") == socket.gethostname() and isinstance(holder.get("pid"), int):
        return pid_alive(holder["pid"])
    return None


def _wait(holder: dict[str, Any]) -> str:
    """What to do about a live writer: wait for it, or, stopped (Ctrl-Z, SIGSTOP), which
    it never ends while stopped, continue or end it."""
    pid = holder.get("pid")
    if holder.get("host") == socket.gethostname() and isinstance(pid, int):
        try:
            state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        except (OSError, IndexError):
            state = ""
        if state in ("T", "t"):
            return (
                f"that process is stopped (Ctrl-Z or SIGSTOP) and holds the run until it is "
                f"continued (fg, or kill -CONT {pid}) or ended"
            )
    return "wait for it to end"


def refuse_if_written(run_path: Path) -> None:
    """Refuse a run file a live process writes now, naming it, before anything is opened
    for it (a resume opened the bench, reset its instruments, and only then found out).

    Raises:
        StoreError: naming the file, the writer and what to do.
    """
    path = lease_path(Path(run_path))
    if path.exists() and holder_alive(path):
        holder = _holder(path)
        who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')}"
        raise StoreError(
            f"{run_path} is being written by {who} (writer lease {path}); {_wait(holder)}"
        )


def writer_active(run_path: Path) -> bool:
    """Whether a live process (or one that cannot be ruled out) writes ``run_path`` now."""
    path = lease_path(run_path)
    if not path.exists():
        return False
    return holder_alive(path) is not False


def _take_over_if_stale(path: Path, run_path: Path) -> None:
    """Remove the lease ``path`` if its holder is gone (with a warning), else raise."""
    holder = _holder(path)
    alive = holder_alive(path)
    who = f"process {holder.get('pid', '?')} on {holder.get('host', '?')}"
    if alive:
        raise StoreError(
            f"{run_path} is being written by {who} (writer lease {path}); {_wait(holder)}"
        )
    if alive is None:
        raise StoreError(
            f"{run_path} may be being written by {who} (writer lease {path}); if that process "
            f"is gone, delete {path} and try again"
        )
    if not _remove_stale(path, holder):
        raise StoreError(f"{run_path} was taken by another process at this moment; retry")
    warnings.warn(
        f"{run_path}: the writer lease of {who}, which no longer runs, was taken over",
        RecoveryWarning,
        stacklevel=4,
    )


def _remove_stale(path: Path, holder: dict[str, Any]) -> bool:
    """Remove the lease ``path`` whose holder ``holder`` is gone; False if it turned out to
    be a fresh lease of another process (left in place)."""
    aside = path.with_name(f"{path.name}.stale-{secrets.token_hex(4)}")
    try:
        os.rename(path, aside)
    except FileNotFoundError:
        return True
    if _holder(aside).get("nonce") != holder.get("nonce"):  # took a fresh lease: give it back
        with contextlib.suppress(FileExistsError):
            os.link(aside, path)
        aside.unlink()
        return False
    aside.unlink()
    return True


def remove_dead_lease(run_path: Path) -> None:
    """Remove the lease of ``run_path`` if its holder is known to be gone (best effort,
    silent: tidying up after a writer killed once the run was written whole)."""
    path = lease_path(run_path)
    try:
        if path.exists() and holder_alive(path) is False:
            _remove_stale(path, _holder(path))
    except OSError:
        pass


def through_link(path: Path) -> Path:
    """``path``, or the file a symbolic link there names: its lease, journal and final
    rename are the real file's, so a second writer through the link is refused and the link
    stays a link."""
    return path.resolve() if path.is_symlink() else path


def tidy_after_dead_writer(path: Path, folded: list[Path]) -> None:
    """Remove what a writer killed after writing the whole file left: parts already in the
    file and its dead lease (best effort; a reader may lack the permission)."""
    if writer_active(path):
        return
    remove_parts(path, folded)
    remove_dead_lease(path)
