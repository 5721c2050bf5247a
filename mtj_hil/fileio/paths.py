"""Whether two paths name one file: by the file system's identity of the file (device and
inode), so a hard link, a bind mount or a second mount of the same disk is caught, not only
a symbolic link or a relative path."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path


def same_file(a: str | Path, b: str | Path) -> bool:
    """Whether ``a`` and ``b`` name the same file: ``os.path.samefile`` (device and inode)
    when both exist, else the same resolved path (a file that does not exist yet has no
    identity; it is ``b`` only if its path is ``b``'s). Never raises."""
    try:
        if os.path.exists(a) and os.path.exists(b):
            return os.path.samefile(a, b)
        return Path(a).resolve() == Path(b).resolve()
    except (OSError, RuntimeError, ValueError):
        return False


def is_one_of(path: str | Path, others: Iterable[str | Path]) -> bool:
    """Whether ``path`` names the same file as any of ``others`` (see :func:`same_file`)."""
    return any(same_file(path, other) for other in others)
