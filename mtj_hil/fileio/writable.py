"""Whether a file can be made at a path, asked before the work that fills it starts: hours of
training, a sweep or a measurement used to end in "cannot write" at their last step."""

from __future__ import annotations

import errno
import os
import tempfile
from pathlib import Path


def check_writable_place(path: str | Path) -> None:
    """Make sure a file can be created at ``path``: its folder is made (with parents) and a
    probe file is created in it and removed.

    Raises:
        OSError: with the path and the system's reason (a parent that is a file, no
            permission, a read-only or special file system).
    """
    folder = Path(path).parent
    existing = next((p for p in (folder, *folder.parents) if p.exists()), None)
    if existing is not None and not existing.is_dir():
        raise NotADirectoryError(errno.ENOTDIR, f"{existing} is a file, not a folder", str(path))
    folder.mkdir(parents=True, exist_ok=True)
    fd, probe = tempfile.mkstemp(prefix=".mtj-hil-probe-", dir=folder)
    os.close(fd)
    os.unlink(probe)
