"""Whether a file can be made at a path, asked before the work that fills it starts: hours of
training, a sweep or a measurement used to end in "cannot write" at their last step, or in a
system message that blamed the wrong file (a parent that is a file read as "File exists", a
long name as a failed lock)."""

from __future__ import annotations

import errno
import os
import secrets
import socket
import tempfile
from pathlib import Path

NAME_MAX_FALLBACK = 255
"""Bytes per file name where the file system cannot say (Linux's ext4, XFS, tmpfs)."""

PATH_MAX_FALLBACK = 4096
"""Bytes per path, its closing NUL byte included, where the system cannot say (Linux)."""


def temp_name_headroom() -> int:
    """Characters a temporary name (:func:`mtj_hil.fileio.atomic.temp_path`) adds to a file's
    name on this host, with room for any process id (7 digits)."""
    host = socket.gethostname().replace("-", "_") or "host"
    return len(f"..tmp-{host}--") + 7 + 8


def nearest_existing(folder: Path) -> Path:
    """``folder`` if it exists, else its nearest existing ancestor (``/`` at the last)."""
    return next((p for p in (folder, *folder.parents) if p.exists()), Path("/"))


def file_in_the_way(folder: Path) -> Path | None:
    """The nearest existing ancestor of ``folder`` (or ``folder`` itself) when it is not a
    folder, else None."""
    existing = nearest_existing(folder)
    return None if existing.is_dir() else existing


def check_new_name(path: str | Path, headroom: int = 0, path_headroom: int | None = None) -> None:
    """Refuse a path whose folder cannot exist (an ancestor is a file) or whose name, with
    ``headroom`` characters the writer adds for its companion files (temporary copies,
    leases), is longer than the file system allows; or the whole path, with
    ``path_headroom`` bytes (default ``headroom``) its longest companion path adds (a file
    in a folder beside it), longer than the system allows a path (PATH_MAX).

    Raises:
        NotADirectoryError: naming the file in the way.
        OSError: ``ENAMETOOLONG``, giving the name's or the path's length and the most it
            may have.
    """
    path = Path(path)
    _check_path_length(path, headroom if path_headroom is None else path_headroom)
    blocker = file_in_the_way(path.parent)
    if blocker is not None:
        raise NotADirectoryError(errno.ENOTDIR, f"{blocker} is a file, not a folder", str(path))
    try:
        name_max = os.pathconf(nearest_existing(path.parent), "PC_NAME_MAX")
    except (OSError, ValueError):
        name_max = NAME_MAX_FALLBACK
    for part in (path.name, *(p.name for p in path.parents if not p.exists())):
        size = len(os.fsencode(part)) + (headroom if part == path.name else 0)
        if size > name_max:
            most = name_max - (headroom if part == path.name else 0)
            raise OSError(
                errno.ENAMETOOLONG,
                f"the name {part[:40]}... has {len(os.fsencode(part))} bytes; this file system "
                f"allows {name_max} per name"
                + (f", {headroom} of them for the files written beside it, so at most {most}"
                   if part == path.name and headroom else ""),
                str(path),
            )  # fmt: skip


def _check_path_length(path: Path, headroom: int) -> None:
    """Refuse ``path`` when it and ``headroom`` more bytes would not fit in a path.

    Raises:
        OSError: ``ENAMETOOLONG``, giving the path's length and the most it may have.
    """
    try:
        path_max = os.pathconf(nearest_existing(path.parent), "PC_PATH_MAX")
    except (OSError, ValueError):
        path_max = PATH_MAX_FALLBACK
    size = len(os.fsencode(str(path)))
    if size + headroom < path_max:  # (PATH_MAX counts the closing NUL byte)
        return
    raise OSError(
        errno.ENAMETOOLONG,
        f"the path has {size} bytes; this system allows {path_max - 1} per path"
        + (f", {headroom} of them for the files written beside it, so at most "
           f"{path_max - 1 - headroom}" if headroom else "")
        + " (a shorter folder or name, or a relative path from a folder nearer the file)",
        str(path),
    )  # fmt: skip


def check_writable_place(path: str | Path, headroom: int | None = None) -> None:
    """Make sure a file can be created at ``path``: its name fits (see
    :func:`check_new_name`; ``headroom`` defaults to a temporary name's), its folder is
    made (with parents) and a probe file is created in it and removed.

    Raises:
        OSError: with the path (never the probe's name) and the system's reason (a parent
            that is a file, a name too long, no permission, a read-only or special file
            system).
    """
    check_new_name(path, temp_name_headroom() if headroom is None else headroom)
    folder = Path(path).parent
    folder.mkdir(parents=True, exist_ok=True)
    try:
        _make_probe(folder)
    except OSError as exc:  # the probe's random name is nothing the user gave
        exc.filename, exc.filename2 = str(path), None
        raise


def _make_probe(folder: Path) -> None:
    """Create and remove a probe file in ``folder``, by the path as given: a relative path
    the writer can use stays relative (``tempfile.mkstemp`` makes it absolute, which can
    pass PATH_MAX where the relative path does not).

    Raises:
        OSError: the file cannot be created (naming the probe).
    """
    probe = folder / f".mtj-hil-probe-{secrets.token_hex(4)}"
    os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
    os.unlink(probe)


def probe_folder(folder: str | Path) -> None:
    """Whether ``folder`` could be made and written, asked without making it: a probe
    folder is made and removed in ``folder``, or in its nearest existing ancestor.

    Raises:
        OSError: with the system's reason (an ancestor that is a file, no permission, a
            read-only or special file system such as /proc).
    """
    folder = Path(folder)
    blocker = file_in_the_way(folder)
    if blocker is not None:
        raise NotADirectoryError(errno.ENOTDIR, f"{blocker} is a file, not a folder", str(folder))
    os.rmdir(tempfile.mkdtemp(prefix=".mtj-hil-probe-", dir=nearest_existing(folder)))
