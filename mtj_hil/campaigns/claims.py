"""Claim files: a run file belongs to one campaign.

Before any task starts, the client creates ``<run file>.claim`` naming the campaign index
that owns it. The claim is made whole in one step (written aside, then hard-linked into
place, which fails if a claim exists: safe on network file systems too), so it is never seen
half-written. A claim of the same campaign is its own (a rerun); a claim of another campaign
stops the run with an error naming both, so two campaigns never write one run file. Claims
stay after the run: they record ownership.

Left-overs are recovered with a :class:`~mtj_hil.runs.store.journal.RecoveryWarning`: an
empty or unreadable claim (from a process killed while creating one with mtj-hil 0.1) and a
stale claim (its campaign index is gone, the process that made it has ended, and its run
file was never written) are replaced.

Two writers of one run file are kept apart by the run file's own writer lease
(:mod:`mtj_hil.runs.store.lease`), which does not depend on HDF5's file locking.
"""

from __future__ import annotations

import json
import os
import warnings
from pathlib import Path
from typing import Any

from mtj_hil.campaigns.moved import MOVED_ADVICE
from mtj_hil.errors import StoreError
from mtj_hil.fileio.atomic import atomic_write, error_text, pid_alive, remove_stale_temps
from mtj_hil.runs.store.journal import RecoveryWarning
from mtj_hil.runs.store.runfile import now_iso


def claim_path(run_file: Path) -> Path:
    return run_file.with_name(run_file.name + ".claim")


def read_claim(run_file: Path) -> dict[str, Any] | None:
    """The claim on ``run_file`` (``campaign_index``, ``claimed``, ``host``, ``pid``), None
    when there is none, ``{}`` when it is empty or unreadable."""
    try:
        data = json.loads(claim_path(run_file).read_text(encoding="utf-8") or "null")
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) and data.get("campaign_index") else {}


def claim(run_file: Path, owner: Path) -> None:
    """Claim ``run_file`` for the campaign whose index is ``owner`` (absolute path).

    Raises:
        StoreError: another campaign owns it, it exists without a claim, or the claim
            cannot be written.
    """
    path = claim_path(run_file)
    record = {
        "campaign_index": str(owner),
        "claimed": now_iso(),
        "host": os.uname().nodename,
        "pid": os.getpid(),
    }
    for _ in range(3):
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            remove_stale_temps(path.parent, path.name)
            atomic_write(path, json.dumps(record).encode(), exclusive=True)
        except FileExistsError:
            if _existing_is_ours(run_file, owner):
                return
            continue
        except OSError as exc:
            raise StoreError(f"cannot claim {run_file}: {error_text(exc)}") from exc
        if run_file.exists():  # written before this campaign claimed it: not ours to resume
            path.unlink()
            raise StoreError(
                f"{run_file} exists but no campaign claims it (written by hand or another "
                "tool); move it away or choose another out_dir"
            )
        return
    raise StoreError(f"cannot claim {run_file}: its claim {path} keeps changing")


def _existing_is_ours(run_file: Path, owner: Path) -> bool:
    """Whether the existing claim is ``owner``'s; a recoverable one is removed (False, so
    the caller claims again); another campaign's live claim raises."""
    path = claim_path(run_file)
    found = read_claim(run_file)
    if found is None:
        return False  # removed meanwhile
    if not found:
        _recover(path, f"the claim {path} on {run_file} was empty or unreadable")
        return False
    other = str(found["campaign_index"])
    if other == str(owner):
        return True
    if _stale(found, run_file):
        _recover(
            path,
            f"the claim {path} named campaign index {other}, which no longer exists, made by "
            f"a process that no longer runs, and {run_file} was never written",
        )
        return False
    if run_file.exists() and Path(other).name == owner.name and not Path(other).exists():
        # written under an index that is gone, one of this campaign's name: moved here
        raise StoreError(
            f"{run_file} was claimed by the campaign index {other}, which is not there any "
            f"more; {MOVED_ADVICE}"
        )
    raise StoreError(
        f"{run_file} belongs to another campaign ({other}); choose another out_dir, "
        f"or delete {path} if that campaign is gone"
    )


def _stale(found: dict[str, Any], run_file: Path) -> bool:
    """A claim nobody can still need: its run file was never written, its campaign index is
    gone, and the process that claimed it ran on this host and has ended."""
    if run_file.exists() or Path(str(found["campaign_index"])).exists():
        return False
    pid = found.get("pid")
    same_host = found.get("host") == os.uname().nodename
    return same_host and isinstance(pid, int) and not pid_alive(pid)


def _recover(path: Path, why: str) -> None:
    try:
        path.unlink()
    except FileNotFoundError:
        return
    warnings.warn(f"{why}; claimed again by this campaign", RecoveryWarning, stacklevel=4)
