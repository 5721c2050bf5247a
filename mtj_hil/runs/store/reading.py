"""Reading a run file's tree: the file verified against its checksum, then its committed
journal parts replayed over it, all in memory.

Damage is reported, never parsed: a file whose bytes do not match its checksum raises
:class:`~mtj_hil.errors.StoreError` naming the file and, where a separate process can tell
(:mod:`mtj_hil.runs.store.diagnose`, run with a time limit so damaged metadata can neither
hang nor crash this one), the damaged datasets.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import h5py
import numpy as np

from mtj_hil.errors import StoreError, blank_edge_hint
from mtj_hil.fileio.atomic import error_text
from mtj_hil.fileio.locks import flock_held
from mtj_hil.runs.store.image import (
    CHECKSUM_ATTR,
    ImageDamaged,
    damaged_datasets,
    has_header,
    open_image,
    read_file,
    verify,
)
from mtj_hil.runs.store.journal import RecoveryWarning, apply, parts_dir, read_parts
from mtj_hil.runs.store.sniff import HDF5_SIGNATURE

RUN_KINDS = ("characterization", "switching")
"""The kinds of measurement run file (each with its array group and ``array_sha256``)."""

DIAGNOSE_TIMEOUT = 30.0
"""Seconds the separate process that locates damage may take."""

LEGACY_PROBE_TIMEOUT = 30.0
"""Seconds a separate process may take to parse a file without a checksum (mtj-hil 0.1)
before this one does."""


@dataclass
class Tree:
    """A run file's tree in memory and how it was put together.

    ``checksummed``: the file has a checksum header (files of mtj-hil 0.1 have none);
    ``last_seq``: the last journal part replayed (or folded into the file);
    ``replayed``: parts replayed; ``folded``: parts already in the file (left by a writer
    killed after writing the whole file); ``untrusted``: parts that did not verify.
    """

    h5: h5py.File
    checksummed: bool
    last_seq: int
    replayed: int = 0
    folded: list[Path] = field(default_factory=list)
    untrusted: list[tuple[Path, str]] = field(default_factory=list)


def load_tree(path: Path, writable: bool) -> Tree:
    """The tree of the run file ``path`` (see the module docstring); ``writable`` gives a
    tree that can be changed in memory.

    Raises:
        StoreError: missing, unreadable, damaged (naming the damage) or not HDF5.
    """
    for _ in range(5):
        try:
            return _load(path, writable)
        except FileNotFoundError as exc:
            if not path.exists():
                raise StoreError(f"run file {path} does not exist{blank_edge_hint(path)}") from exc
            # a writer folded its parts into a new file meanwhile: read again
    raise StoreError(f"{path} kept changing while it was read; try again")


def _load(path: Path, writable: bool) -> Tree:
    try:
        data = read_file(path)
    except FileNotFoundError:
        raise
    except OSError as exc:
        raise StoreError(f"cannot read run file {path}: {error_text(exc)}") from exc
    checksummed = ensure_parsable(path, data)
    try:
        h5 = open_image(data, writable=writable)
    except OSError as exc:
        raise StoreError(f"cannot open {path} as HDF5: {exc}") from exc
    if not checksummed:
        _check_unheaded(h5, path)
    try:
        run_id = str(h5.attrs.get("run_id", ""))
        base_seq = _journal_seq(h5, path)
        replay = read_parts(path, run_id, base_seq) if run_id else read_parts(path, "-", 1 << 62)
        if replay.ops and not writable:
            h5.close()
            h5 = open_image(data, writable=True)
        for ops in replay.ops:
            for op in ops:
                apply(h5, op)
    except (FileNotFoundError, StoreError):
        h5.close()
        raise
    except (OSError, ValueError, KeyError, TypeError) as exc:
        h5.close()
        raise StoreError(f"{path} cannot be read: {type(exc).__name__}: {exc}") from exc
    if replay.untrusted and not writable:
        names = ", ".join(p.name for p, _ in replay.untrusted)
        warnings.warn(
            f"{path}: journal parts {names} do not verify and are ignored (a resume sets "
            "them aside and measures their data again)",
            RecoveryWarning,
            stacklevel=4,
        )
    return Tree(
        h5,
        checksummed,
        replay.last_seq,
        replayed=len(replay.ops),
        folded=replay.folded,
        untrusted=replay.untrusted,
    )


def _check_unheaded(h5: h5py.File, path: Path) -> None:
    """A completed file without the checksum header (mtj-hil 0.1, or a copy made by another
    program) is held to its datasets' own ``sha256`` attributes: no header covers its
    bytes, and values changed in it (a defect code, the list of arrays) would otherwise
    read as measured. Unfinished ones are not (0.1 wrote checksums when it completed).

    A file a later writer made (:func:`_later_writer`) carries a checksum on every dataset;
    one whose checksums are gone was changed (stripped so it would pass as a 0.1 file).

    Raises:
        StoreError: naming the first dataset that differs, or lacks the checksum its
            writer gave it (the tree is closed)."""
    if str(h5.attrs.get("status", "")) != "completed":
        return
    marker = _later_writer(h5)
    if marker is not None:
        bare: list[str] = []
        h5.visititems(
            lambda name, obj: (
                bare.append(name)
                if isinstance(obj, h5py.Dataset) and CHECKSUM_ATTR not in obj.attrs
                else None
            )
        )
        if bare:
            h5.close()
            more = f" (and {len(bare) - 1} more)" if len(bare) > 1 else ""
            raise StoreError(
                f"{path}: {bare[0]}{more} has no sha256 checksum, though the file was written "
                f"after mtj-hil 0.1 ({marker}), which gives every dataset one: the file was "
                "changed since it was written; restore it from a copy"
            )
    damaged = damaged_datasets(h5)
    if damaged:
        h5.close()
        more = f" (and {len(damaged) - 1} more)" if len(damaged) > 1 else ""
        raise StoreError(
            f"{path}: {damaged[0]}{more}: the file was changed or damaged since it was "
            "written; restore it from a copy"
        )


def _later_writer(h5: h5py.File) -> str | None:
    """What shows that a file was written after mtj-hil 0.1 (None: nothing does), in any file
    the store writes (runs, networks): a ``journal_seq`` attribute (the journal and the
    per-dataset checksums came in together, commit 3de235b), a ``package_version`` past 0.1
    (files before the version was raised said 0.1.0), or per-array checksums (the 0.1 run
    files of ``tests/fixtures/legacy-0.1`` have none of them)."""
    if "_NCProperties" in h5.attrs:
        return None  # a netCDF export keeps the run's attributes; check_root names it
    if "journal_seq" in h5.attrs:
        return "it has a journal_seq attribute"
    version = h5.attrs.get("package_version", "")
    version = version.decode() if isinstance(version, bytes) else str(version)
    if version and not version.startswith("0.1"):
        return f"package_version {version}"
    for group in RUN_KINDS:
        if f"{group}/array_sha256" in h5:
            return f"it has {group}/array_sha256"
    return None


def _journal_seq(h5: h5py.File, path: Path) -> int:
    """The file's ``journal_seq`` (0 if absent: a file of 0.1).

    Raises:
        StoreError: it is not a count (the file was changed by another program).
    """
    value = h5.attrs.get("journal_seq", 0)
    if not isinstance(value, int | np.integer) or isinstance(value, bool) or value < 0:
        raise StoreError(
            f"{path}: its journal_seq attribute is {str(value)[:40]}, not a count of journal "
            "parts: the file was changed by another program or is damaged; restore it from a "
            "copy"
        )
    return int(value)


def ensure_parsable(path: Path, data: bytes) -> bool:
    """Make sure the bytes ``data`` of ``path`` can be handed to HDF5: a checksummed file must
    verify; an HDF5 file without a checksum (mtj-hil 0.1) is parsed by a separate process
    first (:func:`probe_unchecked`). Returns whether the file is checksummed.

    Raises:
        StoreError: empty, or damaged (naming the damage).
    """
    if not data:
        raise StoreError(f"{path} is empty (0 bytes): not a run file, or its copy failed")
    if has_header(data):
        try:
            verify(data)
        except ImageDamaged as exc:
            raise StoreError(damage_message(path, str(exc))) from exc
        return True
    if data.startswith(HDF5_SIGNATURE):
        probe_unchecked(path)
    return False


def file_format(path: Path) -> str | None:
    """The ``format`` attribute of the HDF5 file ``path`` (None when it has none), read only
    after its checksum verifies, so damaged metadata never reaches the HDF5 parser.

    Raises:
        StoreError: unreadable, damaged (naming the damage) or not HDF5.
    """
    try:
        data = read_file(path)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {error_text(exc)}") from exc
    ensure_parsable(path, data)
    try:
        with open_image(data) as h5:
            value = h5.attrs.get("format")
    except OSError as exc:
        from mtj_hil.runs.store.damage import open_failure

        raise StoreError(open_failure(path, exc)) from exc
    return None if value is None else str(value)


def probe_unchecked(path: Path) -> None:
    """Have a separate process parse the file ``path``, which has no checksum (mtj-hil 0.1),
    with a time limit, before this process does: damaged HDF5 metadata can make the HDF5
    library loop for ever (and a loop in C never returns to Python to honour a signal).

    Raises:
        StoreError: the probe hung or crashed on the file (it is damaged).
    """
    for line in diagnose(path, timeout=LEGACY_PROBE_TIMEOUT):
        if "did not finish" in line or "fails on it" in line:
            why = line.split(": ", 1)[1]
            raise StoreError(
                f"{path} is damaged: {why} (a file without a checksum, written by mtj-hil "
                "0.1); restore it from a copy"
            )


def damage_message(path: Path, why: str) -> str:
    """``"<path> is damaged: <why>"``, with the damaged datasets where they can be found,
    and what to do (a file whose datasets all still match their own checksums changed around
    them: another program wrote to it, or a copy or disk went bad). A file another program
    holds open for writing (HDF5's lock on it is taken) is said to be that, not damaged:
    HDF5 rewrites bytes of a file it opens for writing, and they may read whole once it is
    closed."""
    if flock_held(path) is True:
        return (
            f"{path} is open for writing in another program (it holds HDF5's lock on the "
            "file: h5py in 'a' mode, HDFView or another HDF5 editor), which has changed its "
            f"bytes ({why}): close the file there and run the command again; open run files "
            "read-only ('r') in other programs"
        )
    found = diagnose(path)
    if found:
        return f"{path} is damaged: {why}; damaged: {'; '.join(found)}; restore it from a copy"
    if "truncated" in why:
        return f"{path} is damaged: {why}; restore it from a copy (a copy cut short?)"
    return (
        f"{path} is damaged: {why}; every dataset still matches its own checksum, so bytes "
        "around them changed (another program writing to the file, such as h5py in 'a' mode "
        "or an HDF5 editor, or a bad copy or disk): restore it from a copy, and open run "
        "files read-only in other programs"
    )


def diagnose(path: Path, timeout: float | None = None) -> list[str]:
    """The damaged datasets of ``path`` (``"name: why"``), found by a separate process with a
    time limit (s; :data:`DIAGNOSE_TIMEOUT` if not given); a line saying so when that process
    hangs or crashes on the damage.

    What the process found is kept for the bytes it read (:data:`_DIAGNOSED`): one command
    reads a file without a checksum several times, and each read had a process parse the
    same bytes again (``show`` of a 0.1 file started four, ``fit-profile`` ten)."""
    timeout = DIAGNOSE_TIMEOUT if timeout is None else timeout
    key = _content_key(path)
    if key is not None and key in _DIAGNOSED:
        return list(_DIAGNOSED[key])
    try:
        out = subprocess.run(
            [sys.executable, "-m", "mtj_hil.runs.store.diagnose", str(path)],
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return [f"(structure): HDF5 did not finish reading it within {timeout:g} s"]
    except OSError:
        return []
    if out.returncode != 0:
        return [f"(structure): HDF5 fails on it (reader exit status {out.returncode})"]
    try:
        found = json.loads(out.stdout)
    except ValueError:
        return []
    if not isinstance(found, list):
        return []
    found = [str(x) for x in found]
    if key is not None and _content_key(path) == key:  # the bytes the process read
        while len(_DIAGNOSED) >= _DIAGNOSED_KEPT:
            del _DIAGNOSED[next(iter(_DIAGNOSED))]
        _DIAGNOSED[key] = tuple(found)
    return found


_DIAGNOSED: dict[bytes, tuple[str, ...]] = {}
"""What :func:`diagnose` found, by the SHA-256 of the bytes (only answers the process gave:
a time limit run out or a crash is asked again)."""

_DIAGNOSED_KEPT = 64


def _content_key(path: Path) -> bytes | None:
    """The SHA-256 of the bytes of ``path``; None when it cannot be read as a regular file."""
    try:
        return hashlib.sha256(read_file(path)).digest()
    except (OSError, StoreError):
        return None


def orphaned_parts(path: Path) -> None:
    """Set aside the journal of a run file that no longer exists (deleted by hand after a
    kill), so a new run of that name starts with an empty journal."""
    folder = parts_dir(path)
    if not folder.exists():
        return
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    aside = folder.with_name(f"{folder.name}.orphaned-{stamp}")
    folder.rename(aside)
    warnings.warn(
        f"{folder} belonged to a run file that no longer exists; set aside as {aside.name}",
        RecoveryWarning,
        stacklevel=3,
    )


@contextmanager
def reader_errors(path: Path) -> Iterator[None]:
    """Turn any error of reading a run file's tree (a dataset or attribute missing or
    malformed) into a :class:`StoreError` naming the file and what failed."""
    try:
        yield
    except StoreError:
        raise
    except (KeyError, ValueError, TypeError, IndexError, OSError, AttributeError) as exc:
        raise StoreError(f"{path} is incomplete or damaged: {type(exc).__name__}: {exc}") from exc
