"""Choosing the run files a command can use: finished ones, the rest listed with why."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from mtj_hil.errors import counted
from mtj_hil.runs.store.runfile import RunFile


def finished_runs(
    paths: Iterable[str | Path], kinds: tuple[str, ...]
) -> tuple[list[Path], list[str]]:
    """Split ``paths`` into run files whose status is ``completed`` (in order) and the
    runs of ``kinds`` that are not, each as ``"FILE (status: reason)"``. Files that are not
    run files, or runs of other kinds, stay in the first list, for the reader to refuse
    with its own message.

    Raises:
        StoreError: a run file that cannot be opened at all (missing, damaged).
    """
    usable: list[Path] = []
    skipped: list[str] = []
    for p in map(Path, paths):
        if p.suffix.lower() not in (".h5", ".hdf5"):
            usable.append(p)
            continue
        with RunFile.open(p) as run:
            kind, status = run.kind, run.status
            reason = str(run.h5.attrs.get("status_reason", "") or "")
        if status == "completed" or kind not in kinds:
            usable.append(p)
        else:
            skipped.append(f"{p} ({status}{': ' + reason if reason else ''})")
    return usable, skipped


def skipped_note(skipped: list[str], what: str = "unfinished run") -> str:
    """One line listing the runs left out and how to use them (``what``: the singular noun
    for one of them)."""
    them = "it" if len(skipped) == 1 else "them"
    return (
        f"skipped {counted(len(skipped), what)} (not completed: finish {them} with --resume, "
        "or measure again): " + "; ".join(skipped)
    )
