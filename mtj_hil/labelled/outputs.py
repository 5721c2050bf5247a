"""An export's outputs written whole or not at all.

A file (NetCDF, NeXus) is written under a temporary name beside its target and moved onto it
when complete. A folder of CSV tables is written whole into a temporary folder beside it and
moved into place by one rename; into a folder that exists already (holding files only with
``--force``), the tables are written whole into a temporary folder inside it first, then moved in one by one,
and if a move fails the tables moved so far are put back as they were. A failed or
interrupted export leaves nothing new behind (folders it made included) and never removes
a file that was there before.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path

from mtj_hil.errors import StoreError
from mtj_hil.fileio.atomic import error_text
from mtj_hil.fileio.paths import is_one_of


def check_target(target: Path, inputs: Iterable[Path], what: str, *, force: bool) -> None:
    """Refuse an output ``target`` that is one of the ``inputs`` (by file identity: a hard
    link or a second mount of an input is caught; ``what`` names them in the message), or
    that exists without ``force``.

    Raises:
        StoreError: naming ``target`` and what to do.
    """
    if is_one_of(target, inputs):
        raise StoreError(f"{target} is {what}; choose another --out (not even --force)")
    if target.exists() and not force:
        raise StoreError(f"{target} already exists; choose another --out or add --force")


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


def _usual_mode(path: Path, mode: int) -> None:
    """Give a temporary file or folder (made private) the mode a plain one would have."""
    umask = os.umask(0)
    os.umask(umask)
    path.chmod(mode & ~umask)


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
    tmp: Path | None = None
    done = False
    try:
        _make_parents(target.parent, made)
        fd, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
        tmp = Path(name)
        os.close(fd)
        _usual_mode(tmp, 0o666)
        yield tmp
        os.replace(tmp, target)
        done = True
    except OSError as exc:
        raise StoreError(f"cannot write {target}: {error_text(exc)}") from exc
    finally:
        if not done:
            if tmp is not None:
                with contextlib.suppress(OSError):
                    tmp.unlink(missing_ok=True)
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
    if folder.exists() and not folder.is_dir():
        raise StoreError(f"{folder} is a file; CSV export writes a folder of tables")
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
        stage = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=where))
        _usual_mode(stage, 0o777)
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
        if stage is not None and stage.exists():
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
