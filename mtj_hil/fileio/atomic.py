"""Durable file writes: a file appears whole or not at all, and stays after a power cut.

A new version of a file is written aside (``.<name>.tmp-<host>-<pid>-<random>`` in the same
folder), flushed to the disk (``fsync``), then renamed over the old one (``os.replace``, or
``os.link`` when the file must not exist yet), and the folder is flushed too so the rename
itself survives a power cut. A kill at any instant leaves either the old file or the new one;
a failed write (full disk, file-size limit, I/O error, read-only file system) leaves the old
one and raises the :class:`OSError`, whose ``filename`` names the file.

Used by run files, the campaign index, claims and calibration records.
"""

from __future__ import annotations

import contextlib
import errno
import os
import secrets
import socket
from collections.abc import Iterable, Iterator
from pathlib import Path

CHUNK = 1 << 26
"""Bytes per ``write`` call (64 MiB)."""


def error_text(exc: OSError) -> str:
    """``"No space left on device (ENOSPC)"``: the cause of an OS error, with its errno name."""
    name = errno.errorcode.get(exc.errno or 0, "")
    text = exc.strerror or str(exc)
    return f"{text} ({name})" if name else text


def temp_path(path: Path) -> Path:
    """A fresh name beside ``path`` for writing its next version."""
    host = socket.gethostname().replace("-", "_") or "host"
    return path.with_name(f".{path.name}.tmp-{host}-{os.getpid()}-{secrets.token_hex(4)}")


def fsync_dir(folder: Path) -> None:
    """Flush a folder's entries (new, renamed and removed names) to the disk.

    Raises:
        OSError: the folder cannot be opened or flushed.
    """
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """Write every byte of ``data`` to ``fd`` (short writes continued).

    Raises:
        OSError: the write failed (ENOSPC, EFBIG, EIO...).
    """
    view = memoryview(data).cast("B")
    while view:
        n = os.write(fd, view[:CHUNK])
        view = view[n:]


def atomic_write(
    path: str | Path, data: bytes | Iterable[bytes], *, exclusive: bool = False
) -> None:
    """Write ``data`` as the new content of ``path``: whole or not at all, durable once this
    returns. With ``exclusive`` the file must not exist yet (it is never replaced).

    A temporary a killed writer left for ``path`` is removed first.

    Raises:
        FileExistsError: ``exclusive`` and the file exists (nothing written).
        OSError: the write failed; the file is as it was and ``exc.filename`` names it. When
            only the folder's flush failed, after the rename, the file is in place whole and
            the error's text says so.
    """
    path = Path(path)
    remove_stale_temps(path.parent, path.name)
    tmp = temp_path(path)
    renamed = False
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            for block in [data] if isinstance(data, bytes | memoryview) else data:
                write_all(fd, block)
            os.fsync(fd)
        finally:
            os.close(fd)
        if exclusive:
            os.link(tmp, path)
            os.unlink(tmp)
        else:
            os.replace(tmp, path)
        renamed = True
        fsync_dir(path.parent)
    except OSError as exc:
        with contextlib.suppress(OSError):
            tmp.unlink()
        if isinstance(exc, FileExistsError):
            raise
        exc.filename = str(path)
        if renamed:
            exc.strerror = (
                f"{exc.strerror or exc} while flushing its folder to the disk; the file was "
                "written whole and is in place (its name may not survive a power cut)"
            )
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    """:func:`atomic_write` of ``text`` as UTF-8. A path typed in the C locale reaches the
    text as surrogates standing for its bytes, which UTF-8 cannot encode; they are written
    as those bytes, the name as the user typed it (``mesure-été`` for ``mesure-\\udcc3...``).
    Same errors."""
    atomic_write(path, text.encode("utf-8", "surrogateescape"))


@contextlib.contextmanager
def written_aside(path: str | Path) -> Iterator[Path]:
    """A temporary name beside ``path`` for a writer to fill (a figure, a table), renamed
    onto ``path`` when the block ends and removed if it raises or is interrupted, so
    ``path`` only ever holds a whole file. The name ends in ``path``'s suffix (matplotlib
    reads the format from it). A temporary a killed process left for ``path`` is removed
    first. Not flushed to the disk: for outputs drawn again from the data, not records.

    Raises:
        OSError: the writer or the rename failed (the temporary is removed; ``path`` is as
            it was), named by ``path``, never by the temporary (a rename onto a folder, a
            name too long with the temporary's tail) nor by no file at all (a full disk at
            an image library's last write).
    """
    path = Path(path)
    remove_stale_temps(path.parent, path.name)
    tmp = temp_path(path)
    tmp = tmp.with_name(tmp.name + path.suffix)
    try:
        yield tmp
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(OSError):
            tmp.unlink(missing_ok=True)
        if isinstance(exc, OSError) and exc.filename in (None, "", str(tmp)):
            exc.filename, exc.filename2 = str(path), None
        raise


def begins_with(path: Path, head: bytes) -> bool:
    """Whether the file ``path`` begins with ``head`` (False if it cannot be read): e.g.
    whether a write whose last step (the folder's flush) failed had put the file in place."""
    try:
        with open(path, "rb") as f:
            return f.read(len(head)) == head
    except OSError:
        return False


def stale_temps(folder: Path, prefix: str = "") -> list[Path]:
    """The temporary files and folders in ``folder`` (named by :func:`temp_path`, of names
    starting with ``prefix``) whose writer, a process of this host, no longer runs (killed
    between writing aside and moving into place). Another host's are never listed: their
    processes cannot be seen from here."""
    host = socket.gethostname().replace("-", "_") or "host"
    try:
        candidates = sorted(folder.glob(f".{prefix}*.tmp-{host}-*"))
    except OSError:
        return []
    stale = []
    for tmp in candidates:
        try:
            pid = int(tmp.name.rsplit("-", 2)[-2])
        except (ValueError, IndexError):
            continue
        if pid != os.getpid() and not pid_alive(pid):
            stale.append(tmp)
    return stale


def remove_stale_temps(folder: Path, prefix: str = "") -> list[Path]:
    """Remove the half-written files :func:`stale_temps` lists; returns those removed."""
    removed = []
    for tmp in stale_temps(folder, prefix):
        try:
            tmp.unlink()
            removed.append(tmp)
        except OSError:
            pass
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process ``pid`` runs on this host (one of another user counts as running)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
