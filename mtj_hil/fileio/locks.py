"""Whether another process holds an ``flock`` on a file, asked without waiting."""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def flock_held(path: str | Path) -> bool | None:
    """Whether some process holds an ``flock`` on ``path`` (a lock file); None when the file
    cannot be opened. The probe takes a shared lock for an instant and never waits, so it
    cannot hold the holder up."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except BlockingIOError:
        return True
    except OSError:
        return None
    else:
        fcntl.flock(fd, fcntl.LOCK_UN)
        return False
    finally:
        os.close(fd)
