"""A campaign index that cannot be read traps no one: ``campaign run`` sets it aside and
rebuilds it from the run files and their claims; ``campaign status`` shows the state of the
run files instead, saying so.

The run files are the truth: a task whose run file is ``completed`` (and claimed by this
campaign) is done, whatever the index said; an unfinished one is resumed. What a rebuilt
index loses is history (attempts, workers, times, errors of failed tasks).
"""

from __future__ import annotations

import json
import warnings
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from mtj_hil.campaigns.claims import claim_path
from mtj_hil.campaigns.index import FIELDS, file_checksum
from mtj_hil.campaigns.registry import get_kind
from mtj_hil.campaigns.spec import CampaignSpec
from mtj_hil.errors import StoreError
from mtj_hil.runs.store.journal import RecoveryWarning
from mtj_hil.runs.store.runfile import RunFile


def set_aside(index_path: Path, why: str) -> Path:
    """Rename an unreadable index to ``<name>.unreadable-<UTC time>`` (kept for inspection)
    with a :class:`RecoveryWarning`; the caller then writes a fresh one."""
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = index_path.with_name(f"{index_path.name}.unreadable-{stamp}")
    index_path.rename(aside)
    warnings.warn(
        f"{why}; set aside as {aside.name} and rebuilt from the run files and their claims "
        "(finished tasks are kept, unfinished ones resumed)",
        RecoveryWarning,
        stacklevel=2,
    )
    return aside


def _ours(run_file: Path, owner: Path) -> bool:
    try:
        found = json.loads(claim_path(run_file).read_text(encoding="utf-8")).get(
            "campaign_index", ""
        )
    except (OSError, ValueError, AttributeError):
        return False
    return found == str(owner)


def view(spec: CampaignSpec) -> dict[str, dict[str, Any]]:
    """Task records as the run files and claims tell them (for ``campaign status`` when the
    index cannot be read): ``completed`` with checksum and digest for a completed run file
    this campaign claims, ``pending`` otherwise (``error`` says when an unfinished or
    foreign run file is there)."""
    owner = spec.index_path.resolve()
    out: dict[str, dict[str, Any]] = {}
    for task in spec.tasks:
        rec: dict[str, Any] = {f: 0 if f in ("attempts", "pid") else "" for f in FIELDS}
        rec.update(
            id=task.id,
            kind=task.kind,
            group=task.group,
            run_file=str(task.run_file),
            params_hash=task.params_hash(),
            status="pending",
            summary={},
        )
        path = Path(task.run_file)
        if path.exists():
            if not _ours(path, owner):
                rec["error"] = "its run file is not claimed by this campaign"
            else:
                try:
                    with RunFile.open(path, "r") as run:
                        status = run.status
                except StoreError as exc:
                    status, rec["error"] = "", str(exc)
                if status == "completed":
                    rec.update(
                        status="completed",
                        checksum=file_checksum(path),
                        digest=get_kind(task.kind).digest(path),
                    )
                elif status:
                    rec["error"] = f"unfinished run file ({status}): resumed by 'campaign run'"
        out[task.id] = rec
    return out
