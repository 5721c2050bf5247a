"""Is a ``running`` run file still being written? One small module, so the rule lives in
one place.

A run file's writer holds its writer lease (:mod:`mtj_hil.runs.store.lease`) for as long as
it writes; a lease whose holder died is recognised at once (its ``flock`` is gone) or by
its process id. A file whose status says ``running`` with no live writer was left by a
measurement that was killed: the page shows it as interrupted. The viewer only looks at
the lease; it never takes or removes one.

:func:`writer_holds` probes any lock file held with ``flock`` (the campaign index lock).
"""

from __future__ import annotations

import os
from pathlib import Path

from mtj_hil.fileio.locks import flock_held
from mtj_hil.runs.store.lease import writer_active


def writer_holds(path: str | Path) -> bool | None:
    """Whether some process holds an ``flock`` on ``path`` (a lock file).

    Returns None when that cannot be told: HDF5 file locking is switched off
    (``HDF5_USE_FILE_LOCKING=FALSE``, common on network disks, where ``flock`` may not
    reach other hosts either) or the file cannot be opened. The probe takes a shared lock
    for an instant and never waits, so it cannot hold a writer up.
    """
    if os.environ.get("HDF5_USE_FILE_LOCKING", "").upper() in ("FALSE", "0"):
        return None
    return flock_held(path)


def run_state(status: str, path: str | Path) -> str:
    """What the page shows of a run: its recorded ``status``, except a ``running`` file
    whose writer lease no live process holds, which is ``interrupted`` (a holder that
    cannot be checked, e.g. on another host, counts as running)."""
    if status == "running" and not writer_active(Path(path)):
        return "interrupted"
    return status
