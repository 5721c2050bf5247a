"""What a run file's writer says when a write fails: the cause, and what to do next."""

from __future__ import annotations

from pathlib import Path

import h5py

from mtj_hil.errors import StoreError, command_line
from mtj_hil.fileio.atomic import error_text
from mtj_hil.runs.store.resume import resume_hint


def write_failure(
    path: Path, h5: h5py.File, exc: OSError, what: str, after: str = ""
) -> StoreError:
    """The error that stops a session's writing of run file ``path`` (its tree ``h5``) on
    ``exc`` while it tried to ``what`` it, saying what is kept and the command that goes on.
    ``after="complete"``: the run was already written whole as completed (only the clean-up
    failed), so nothing is to be resumed."""
    where = exc.filename or path
    if after == "complete":
        todo = (
            "the run is complete and written whole, nothing is lost: free space or fix "
            f"the cause; the leftover journal is removed by the next {command_line('show', path)}"
        )
    elif not path.exists():  # its first write: no file to resume
        todo = "no file was made: free space or fix the cause, then run the command again"
    elif h5.id.valid and h5.attrs.get("kind") == "network":  # never resumed
        todo = f"free space or fix the cause, then {resume_hint(h5.attrs, path)}"
    else:  # the command that finishes it (or the campaign to run again)
        then = resume_hint(h5.attrs, path) if h5.id.valid else "resume"
        todo = f"the data committed before is kept: free space or fix the cause, then {then}"
    return StoreError(f"cannot {what} run file {path}: {error_text(exc)} (writing {where}); {todo}")


def second_writer(path: Path, exc: FileExistsError) -> StoreError:
    """The error of a commit whose journal part another process wrote first: two processes
    write one run (its writer lease removed or bypassed), not a disk problem."""
    return StoreError(
        f"cannot commit to run file {path}: another process wrote its next journal part "
        f"({exc.filename}) meanwhile, so two processes write this run (its writer lease was "
        "removed or bypassed); this one stops, the parts committed before stay: let the "
        f"other finish, then check it with: {command_line('show', '--verify', path)}"
    )
