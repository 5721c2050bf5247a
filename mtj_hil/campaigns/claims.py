"""Claim files: a run file belongs to one campaign.

Before any task starts, the client creates ``<run file>.claim`` with an exclusive create
(``O_CREAT | O_EXCL``) naming the campaign index that owns it. A claim of the same campaign
is its own (a rerun); a claim of another campaign stops the run with an error naming both,
so two campaigns never write one run file. Claims stay after the run: they record ownership.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from mtj_hil.errors import StoreError
from mtj_hil.runs.store.runfile import now_iso


def claim_path(run_file: Path) -> Path:
    return run_file.with_name(run_file.name + ".claim")


def claim(run_file: Path, owner: Path) -> None:
    """Claim ``run_file`` for the campaign whose index is ``owner`` (absolute path).

    Raises:
        StoreError: another campaign owns it, it exists without a claim, or the claim cannot be written or read.
    """
    path = claim_path(run_file)
    path.parent.mkdir(parents=True, exist_ok=True)
    record = json.dumps(
        {
            "campaign_index": str(owner),
            "claimed": now_iso(),
            "host": os.uname().nodename,
            "pid": os.getpid(),
        }
    )
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except FileExistsError:
        try:
            found = json.loads(path.read_text()).get("campaign_index", "")
        except (OSError, ValueError) as exc:
            raise StoreError(f"cannot read the claim {path} on {run_file}: {exc}") from exc
        if found != str(owner):
            raise StoreError(
                f"{run_file} belongs to another campaign ({found}); choose another out_dir, "
                f"or delete {path} if that campaign is gone"
            ) from None
        return
    except OSError as exc:
        raise StoreError(f"cannot claim {run_file}: {exc}") from exc
    with os.fdopen(fd, "w") as f:
        f.write(record)
    if run_file.exists():  # written before this campaign claimed it: not ours to resume
        path.unlink()
        raise StoreError(
            f"{run_file} exists but no campaign claims it (written by hand or another tool); "
            "move it away or choose another out_dir"
        )
