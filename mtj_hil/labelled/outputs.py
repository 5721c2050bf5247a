"""An export's outputs written whole or not at all.

A file (NetCDF, NeXus) is written under a temporary name beside its target and moved onto it
when complete. A folder of CSV tables is written whole into a temporary folder beside it and
moved into place by one rename; into a folder that exists already (holding files only with
``--force``), the tables are written whole into a temporary folder inside it first, then moved in one by one,
and if a move fails the tables moved so far are put back as they were. A failed or
interrupted export leaves nothing new behind (folders it made included) and never removes
a file that was there before.

A process killed outright (SIGKILL, an OOM kill) cleans nothing up, so its temporary file or
folder is named by its host and process (:func:`mtj_hil.fileio.atomic.temp_path`) and the
next export to the same place tidies up after it: a half-written file or table folder is
removed; tables it had moved into a folder are taken out again and the files they replaced
put back (the folder's ``.moving`` list says which were which), with a
:class:`~mtj_hil.runs.store.journal.RecoveryWarning`. A temporary of a process still running,
or of another host, is left alone.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import warnings
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mtj_hil.errors import StoreError
from mtj_hil.fileio.atomic import error_text, stale_temps, temp_path, written_aside
from mtj_hil.fileio.paths import is_one_of
from mtj_hil.runs.store.journal import RecoveryWarning

MOVING = ".moving"
"""The list, in a table folder's stage, of the tables about to be moved into the folder:
``{"replaced": [names of files there before], "new": [names]}``."""


def check_target(
    target: Path, inputs: Iterable[Path], what: str, *, force: bool, folder: bool = False
) -> None:
    """Refuse an output ``target`` that is one of the ``inputs`` (by file identity: a hard
    link or a second mount of an input is caught; ``what`` names them in the message), a
    folder where a file is written (``folder`` False: ``--force`` would not help, so it is
    said first), or one that exists without ``force`` (a symbolic link to nothing too, which
    the output would replace; a folder of tables, ``folder`` True, may exist:
    :func:`write_folder` refuses it only when it holds files).

    Raises:
        StoreError: naming ``target`` and what to do.
    """
    if is_one_of(target, inputs):
        raise StoreError(f"{target} is {what}; choose another --out (not even --force)")
    refuse_special(target, "--out")
    if not folder and target.is_dir():
        raise StoreError(f"{target} is a folder; give the file to write as --out")
    if folder and target.is_dir():
        return  # write_folder's to judge: an empty folder made for the tables is fine
    if os.path.lexists(target) and not force:  # a link to nowhere is the user's too
        dangling = "" if target.exists() else f" (a link to {os.readlink(target)}, not there)"
        raise StoreError(f"{target} already exists{dangling}; choose another --out or add --force")


def refuse_special(target: Path, option: str) -> None:
    """Refuse an output that exists as neither a regular file nor a folder (a device such
    as ``/dev/null``, a pipe, a socket): ``--force`` replaces files, and would replace it
    with one.

    Raises:
        StoreError: naming ``target`` and ``option``.
    """
    if target.exists() and not (target.is_file() or target.is_dir()):
        raise StoreError(
            f"{target} is not a regular file (a device, pipe or socket); {option} writes a "
            f"file, and --force replaces files only: choose another {option}"
        )


def _make_parents(folder: Path, made: list[Path]) -> None:
    """Make ``folder`` and its missing parents, outermost first, each appended to ``made``
    once made (so a stop part-way leaves ``made`` right)."""
    for path in [p for p in (folder, *folder.parents) if not p.exists()][::-1]:
        path.mkdir(exist_ok=True)
        made.append(path)


def _remove_made(made: list[Path]) -> None:
    """Remove the (empty) folders ``made`` by :func:`_make_parents`, innermost first."""
    for folder in reversed(made):
        with contextlib.suppress(OSError):
            folder.rmdir()


@contextmanager
def replacing(target: Path) -> Iterator[Path]:
    """A temporary path beside ``target``, moved onto it when the block succeeds; on any
    failure or interruption the temporary file (and any folder made for it) is removed.

    Raises:
        StoreError: ``target`` is a folder, or cannot be written (naming ``target``, not the
            temporary file).
    """
    if target.is_dir():
        raise StoreError(f"{target} is a folder; give the file to write as --out")
    made: list[Path] = []
    done = False
    try:
        _make_parents(target.parent, made)
        with written_aside(target) as tmp:
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))  # taken now
            yield tmp
        done = True
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {error_text(exc)}") from exc
    finally:
        if not done:
            _remove_made(made)


def write_folder(folder: Path, fill: Callable[[Path], list[str]], *, force: bool) -> list[Path]:
    """Make the folder ``folder`` hold the files ``fill(stage)`` writes into an empty
    temporary folder ``stage`` (returning their names), whole or not at all (see the module
    docstring). Other files already in ``folder`` are left alone; files of the same names
    are replaced (only with ``force``: without it a folder holding files is refused).

    Raises:
        StoreError: ``folder`` is a file, holds files (without ``force``), or cannot be
            written; nothing new is left behind.
    """
    folder = Path(os.path.abspath(folder))  # "." and ".." have no name to stage beside
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"{folder} is a file; CSV export writes a folder of tables")
    recover_folder(folder)
    filled = folder.is_dir() and any(folder.iterdir())
    if filled and not force:
        raise StoreError(f"{folder} already holds files; choose another --out or add --force")
    # an existing folder (perhaps a mount point) gets its stage inside, on its own disk
    inside = folder.is_dir()
    made: list[Path] = []
    stage: Path | None = None
    done = False
    try:
        _make_parents(folder.parent, made)
        where = folder if inside else folder.parent
        stage = temp_path(where / (folder.name or "tables"))  # "/" has no name either
        stage.mkdir()
        names = fill(stage)
        if inside:
            _move_in(stage, folder, names)
        else:
            os.replace(stage, folder)  # one rename: the folder appears whole
        done = True
    except OSError as exc:
        raise StoreError(
            f"cannot write CSV tables into {folder}: {error_text(exc)}; "
            + ("the files there are as they were" if filled else "nothing was written")
        ) from exc
    finally:
        # (not stage.exists(): for a name too long with the stage's tail it raises, and the
        # error above would be lost to one naming the temporary folder)
        if stage is not None:
            shutil.rmtree(stage, ignore_errors=True)
        if not done:
            _remove_made(made)
    return [folder / name for name in names]


def _move_in(stage: Path, folder: Path, names: list[str]) -> None:
    """Move the files ``names`` from ``stage`` (a folder inside ``folder``) into ``folder``,
    replacing files of those names; if a move fails or is interrupted, the files moved so
    far are put back as they were (a replaced file from its copy set aside in ``stage``).

    Raises:
        OSError: a move failed (after the files were put back).
    """
    previous = stage / ".previous"
    previous.mkdir()
    replaced = [name for name in names if os.path.lexists(folder / name)]
    new = [name for name in names if name not in replaced]
    (stage / MOVING).write_text(json.dumps({"replaced": replaced, "new": new}))
    moved: list[tuple[Path, Path | None]] = []
    try:
        for name in names:
            dest = folder / name
            kept = None
            if os.path.lexists(dest):
                kept = previous / name
                os.rename(dest, kept)
            moved.append((dest, kept))
            os.replace(stage / name, dest)
    except BaseException:
        for dest, kept in reversed(moved):
            with contextlib.suppress(OSError):
                if kept is not None:
                    os.replace(kept, dest)
                else:
                    dest.unlink(missing_ok=True)
        raise
    finally:  # moved in, or put back: nothing for a later export to undo
        with contextlib.suppress(OSError):
            (stage / MOVING).unlink()


def recover_folder(folder: Path) -> list[str]:
    """Tidy up after exports of the table folder ``folder`` killed outright (see the module
    docstring): remove their stages (beside ``folder``, or inside it), and undo a move into
    ``folder`` that was cut short. Returns the names of the files put back or taken out.
    Best effort: what cannot be removed stays."""
    put_back: list[str] = []
    taken_out: list[str] = []
    for where in (folder.parent, folder):
        if not where.is_dir():
            continue
        for stage in stale_temps(where, folder.name):
            if stage.is_dir() and where == folder:
                back, out = _undo_move(stage, folder)
                put_back += back
                taken_out += out
            if stage.is_dir():
                shutil.rmtree(stage, ignore_errors=True)
            else:
                with contextlib.suppress(OSError):
                    stage.unlink()
    if put_back or taken_out:
        done = [f"put back {', '.join(put_back)}"] if put_back else []
        done += [f"took out {', '.join(taken_out)}"] if taken_out else []
        warnings.warn(
            f"{folder}: an export was killed while moving its tables in; its moves were "
            f"undone ({'; '.join(done)})",
            RecoveryWarning,
            stacklevel=3,
        )
    return put_back + taken_out


def _undo_move(stage: Path, folder: Path) -> tuple[list[str], list[str]]:
    """Undo the moves of ``stage`` (a stale stage inside ``folder``) by its :data:`MOVING`
    list: a replaced file goes back from ``.previous``; a new table already moved (no
    longer in the stage) is removed. Returns the names put back and those taken out."""
    try:
        moving = json.loads((stage / MOVING).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return [], []  # the moves had not begun: the folder is as it was
    put_back, taken_out = [], []
    for name in moving.get("replaced", []):
        kept = stage / ".previous" / name
        if os.path.lexists(kept):
            with contextlib.suppress(OSError):
                os.replace(kept, folder / name)
                put_back.append(name)
    for name in moving.get("new", []):
        if not os.path.lexists(stage / name) and os.path.lexists(folder / name):
            with contextlib.suppress(OSError):
                (folder / name).unlink()
                taken_out.append(name)
    return put_back, taken_out
