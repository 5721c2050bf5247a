"""Is a ``running`` run file still being written? One small function, so the rule lives in
one place.

HDF5 (1.10 and later, h5py's default) takes an exclusive ``flock`` on a file opened for
writing and keeps it until the file is closed; the kernel drops it when the writer dies,
however it dies. A file whose status says ``running`` but which nobody holds was left by a
measurement that was killed: the page shows it as interrupted.
"""

from __future__ import annotations

import fcntl
import os
from pathlib import Path


def writer_holds(path: str | Path) -> bool | None:
    """Whether some process holds ``path`` open for writing (its HDF5 write lock).

    Returns None when that cannot be told: HDF5 file locking is switched off
    (``HDF5_USE_FILE_LOCKING=FALSE``, common on network disks, where ``flock`` may not
    reach other hosts either) or the file cannot be opened. The probe takes a shared lock
    for an instant and never waits, so it cannot hold a writer up.
    """
    if os.environ.get("HDF5_USE_FILE_LOCKING", "").upper() in ("FALSE", "0"):
        return None
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


def run_state(status: str, path: str | Path) -> str:
    """What the page shows of a run: its recorded ``status``, except a ``running`` file no
    writer holds, which is ``interrupted`` (a writer that cannot be checked counts as
    running)."""
    if status == "running" and writer_holds(path) is False:
        return "interrupted"
    return status
