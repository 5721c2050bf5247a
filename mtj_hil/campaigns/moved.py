"""A campaign folder moved or copied: told apart from a changed campaign, and named.

A campaign's index and claims record where its run files are (absolute paths), and a task's
identity includes its run file's path, so a campaign whose ``out_dir`` was moved or copied
reads as changed, its files as another campaign's. It is not taken as the same campaign
(results would be claimed by two places); the messages say what happened instead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

MOVED_ADVICE = (
    "a campaign folder moved or copied is not taken as the same campaign (its index and "
    "claims record where its files were): move it back there to go on with it, or measure "
    "again into a new out_dir"
)
"""What a user of a moved campaign can do."""


def moved_from(tasks: Iterable[Any], records: Mapping[str, Mapping[str, Any]]) -> Path | None:
    """The folder the index says a task's run file was in, when it is the same file (group
    folder and name) under another folder than the task's now; else None."""
    for task in tasks:
        old = (records.get(task.id) or {}).get("run_file")
        if not old:
            continue
        was, now = Path(str(old)), Path(task.run_file)
        if was != now and was.parts[-2:] == now.parts[-2:]:
            return was.parent.parent
    return None


def moved_note(tasks: Iterable[Any], records: Mapping[str, Mapping[str, Any]]) -> str:
    """``"; its results were written under <folder>: <advice>"``, or ``""`` when the
    campaign was not moved."""
    was = moved_from(tasks, records)
    return "" if was is None else f"; its results were written under {was}: {MOVED_ADVICE}"
