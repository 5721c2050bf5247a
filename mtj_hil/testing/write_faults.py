"""In-process write faults: every file-system write a piece of code makes under one folder is
a numbered *write point*, and at write point K the harness sends the process a stop signal
(SIGTERM, SIGINT: as ``kill`` or Ctrl-C would, the signal then taking its usual path through
the handlers and deferrals; SIGKILL, in a forked child, with no clean-up at all), or makes
that write and every later one fail (:data:`ERRORS`: ``ENOSPC``, a full disk; ``EROFS``, a
read-only file system; ``EACCES``, no permission), or, for :data:`DISK_FULL`, every later
write that needs space (removals and renames go through, as on a real full disk).

This complements the kill-at-every-write bench (:mod:`mtj_hil.testing.crash`, an
``LD_PRELOAD`` shim that sees every libc write, SIGKILL included): it runs inside the test
process, so a command can be run through :func:`mtj_hil.cli.main.main` at each write point
in a fraction of a second. It sees the writes Python code makes through :mod:`os` and the
built-in ``open`` (writes, ``fsync``, renames, links, removals, folders made and removed,
files opened for writing): every write the run files, their journals and leases, claims,
the campaign index and the PNG reports make. C libraries writing on their own are not seen.

Use::

    with write_faults(folder, k=5, action="SIGTERM") as faults:
        code = main([...])
    faults.seen, faults.fired, faults.points[4]
"""

from __future__ import annotations

import builtins
import errno
import io
import os
import signal
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ERRORS = {"ENOSPC": errno.ENOSPC, "EROFS": errno.EROFS, "EACCES": errno.EACCES}
"""Write failures: a full disk, a read-only file system, a folder without write permission."""
DISK_FULL = "disk-full"
"""A full disk as the kernel reports one: from write point K on, every write that needs
space (data, ``fsync``, files and folders made) fails with ENOSPC, while removals and
renames, which need none, still work (``ENOSPC`` fails those too: a harsher fault)."""
NEEDS_NO_SPACE = ("unlink", "remove", "rmdir", "replace", "rename", "truncate", "ftruncate")
"""The write points a full disk lets through (:data:`DISK_FULL`)."""
ACTIONS = ("count", "SIGTERM", "SIGINT", "SIGKILL", DISK_FULL, *ERRORS)
"""``SIGKILL`` ends the process on the spot, as a power cut or an OOM kill would: use it only
in a forked child (:func:`mtj_hil.testing.crash.in_child`)."""
_WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_TRUNC | os.O_APPEND
_PATH_CALLS = ("replace", "rename", "link", "unlink", "remove", "mkdir", "rmdir", "truncate")
_FD_CALLS = ("write", "fsync", "ftruncate")


@dataclass
class WriteFaults:
    """The armed harness: ``k`` (1-based write point, 0: never), ``action`` (one of
    :data:`ACTIONS`), and what it saw: ``seen`` write points, described in ``points``,
    ``fired`` once the fault was made (a write failure: from K on, every write fails)."""

    folder: str
    k: int = 0
    action: str = "count"
    seen: int = 0
    fired: bool = False
    points: list[str] = field(default_factory=list)

    def inside(self, target: Any, dir_fd: int | None = None) -> bool:
        """Whether ``target`` (a path, or a file descriptor) lies under the folder."""
        try:
            if isinstance(target, int):
                path = os.readlink(f"/proc/self/fd/{target}")
            else:
                path = os.fsdecode(target)
                if not os.path.isabs(path):
                    base = os.getcwd() if dir_fd is None else os.readlink(f"/proc/self/fd/{dir_fd}")
                    path = os.path.join(base, path)
        except (OSError, TypeError):
            return False
        path = os.path.abspath(path)
        return path == self.folder or path.startswith(self.folder + os.sep)

    def point(self, what: str, target: Any) -> None:
        """Count a write point; make the fault if this is (or, for a failure, follows) K."""
        self.seen += 1
        self.points.append(f"{what} {target}")
        if self.action == "count" or not self.k or self.seen < self.k:
            return
        if self.action == DISK_FULL and what in NEEDS_NO_SPACE:
            return
        if self.action in ERRORS or self.action == DISK_FULL:
            self.fired = True
            code = ERRORS.get(self.action, errno.ENOSPC)
            if isinstance(target, int):  # as the system raises it: no file name on an fd
                raise OSError(code, os.strerror(code))
            raise OSError(code, os.strerror(code), os.fsdecode(target))
        if self.seen == self.k:
            self.fired = True
            os.kill(os.getpid(), getattr(signal, self.action))


@contextmanager
def write_faults(folder: str | Path, k: int = 0, action: str = "count") -> Iterator[WriteFaults]:
    """Count the write points under ``folder`` inside the block and make ``action`` at the
    ``k``-th (see the module docstring); everything is restored after the block.

    Raises:
        ValueError: an unknown action.
    """
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, got {action!r}")
    faults = WriteFaults(str(Path(folder).resolve()), k, action)
    saved: dict[str, Callable[..., Any]] = {}

    def wrap(name: str, counts: Callable[..., bool] = lambda *a, **kw: True) -> None:
        original = saved[name] = getattr(os, name)

        def patched(*args: Any, **kwargs: Any) -> Any:
            if counts(*args, **kwargs) and faults.inside(args[0], kwargs.get("dir_fd")):
                faults.point(name, args[0])
            return original(*args, **kwargs)

        setattr(os, name, patched)

    for name in (*_FD_CALLS, *_PATH_CALLS):
        wrap(name)
    wrap("open", lambda path, flags, *a, **kw: bool(flags & _WRITE_FLAGS))
    original_open = builtins.open

    def open_(file: Any, mode: str = "r", *args: Any, **kwargs: Any) -> Any:
        if any(c in mode for c in "wax+") and not isinstance(file, int) and faults.inside(file):
            faults.point("open", file)
        return original_open(file, mode, *args, **kwargs)

    builtins.open = io.open = open_
    try:
        yield faults
    finally:
        for name, original in saved.items():
            setattr(os, name, original)
        builtins.open = io.open = original_open


def folder_contents(folder: str | Path) -> dict[str, bytes | None]:
    """Every path under ``folder`` (relative, hidden ones included) with its bytes (None for
    a folder): what a test compares before and after a fault."""
    folder = Path(folder)
    return {
        str(p.relative_to(folder)): (None if p.is_dir() else p.read_bytes())
        for p in sorted(folder.rglob("*"))
    }
