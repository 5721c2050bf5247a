"""Checking a run file from end to end: :func:`verify_run` lists everything wrong with it.

What it checks, in order: the file's sha256 (against its checksum header; files of
mtj-hil 0.1 have none and are only checked for readability), each journal part (a run not
yet written whole), every dataset against its ``sha256`` attribute and ``fletcher32`` filter,
and every finished array of a characterisation or switching run against its per-array
checksum. The readers use the same checks (:mod:`mtj_hil.runs.store.reading`,
:meth:`mtj_hil.runs.store.sink.RunSink.verified`): a damaged file raises
:class:`~mtj_hil.errors.StoreError` instead of being read as good.

The helpers below name the damage of a file opened as HDF5 (``open_failure``,
``unreadable_in``: what ``RunFile`` readers raise) and :func:`verify_run_file` is the whole
check for ``mtj-hil show --verify`` and ``campaign status --verify``.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import h5py

from mtj_hil.errors import StoreError
from mtj_hil.fileio.atomic import error_text
from mtj_hil.fileio.locks import flock_held
from mtj_hil.runs.store.damage import unreadable
from mtj_hil.runs.store.image import (
    CHECKSUM_ATTR,
    HDF5_SIGNATURE,
    USERBLOCK,
    ImageDamaged,
    damaged_datasets,
    has_header,
    read_file,
    verify,
)
from mtj_hil.runs.store.reading import damage_message, diagnose, load_tree
from mtj_hil.runs.store.structure import check_root


def verify_run(path: str | Path, *, parts: bool = True) -> list[str]:
    """Everything wrong with the run file ``path``, one sentence each naming the file and
    the dataset or part concerned; an empty list for a sound file. ``parts=False`` leaves
    out journal parts that do not verify (a resume sets them aside and measures their
    arrays again)."""
    path = Path(path)
    try:
        data = read_file(path)
    except OSError as exc:
        return [f"{path}: cannot be read: {error_text(exc)}"]
    if has_header(data):
        try:
            verify(data)
        except ImageDamaged as exc:
            if flock_held(path) is True:
                return [damage_message(path, str(exc))]  # held open for writing, says so
            return [f"{path} is damaged: {exc}"] + [f"{path}: {d}" for d in diagnose(path)]
    else:
        found = diagnose(path)  # no checksum: let a separate process try every dataset
        if found:
            return [f"{path}: {d}" for d in found]
    del data
    problems: list[str] = []
    with warnings.catch_warnings(record=True):
        warnings.simplefilter("always")
        try:
            tree = load_tree(path, writable=False)
        except StoreError as exc:
            return [str(exc)]
    if parts:
        problems += [f"{part}: journal part not trusted: {why}" for part, why in tree.untrusted]
    with tree.h5 as h5:
        damaged = [f"{path}: {d}" for d in damaged_datasets(h5)]
        problems += damaged
        try:  # the arrays' checks read the datasets as the store declares them
            check_root(h5, path)
        except StoreError as exc:
            return [*problems, str(exc)]
        except (OSError, ValueError, TypeError, KeyError, IndexError):
            if not damaged:
                raise
            return problems  # a damaged dataset it had to read: named above
        problems += _arrays(path, h5)
    return problems


def _sink_types() -> dict[str, Any]:
    """Each run kind's sink class (:class:`~mtj_hil.runs.store.sink.RunSink`)."""
    from mtj_hil.runs.store.characterization import CharacterizationRun
    from mtj_hil.runs.store.switching import SwitchingRun

    return {s.KIND: s for s in (CharacterizationRun, SwitchingRun)}


def backfill_array_sums(h5: h5py.File, path: Path) -> None:
    """Give the finished arrays of ``h5`` (an open, writable copy of the mtj-hil 0.1 run file
    ``path``) the per-array checksums current files carry, so a copy sealed as a current
    file (:func:`~mtj_hil.runs.store.image.seal`) reads back as one. Nothing for a file
    that has them or is of no known kind."""
    from mtj_hil.runs.store.journal import Op, apply
    from mtj_hil.runs.store.runfile import RunFile
    from mtj_hil.runs.store.sink import SUMS_TEXT

    run = RunFile(h5, path)
    sink_type = _sink_types().get(str(h5.attrs.get("kind", "")))
    if sink_type is None:
        return
    sink = sink_type(run)
    sums = sink.missing_sums()
    if sums is not None:
        apply(h5, Op("append", sink._sums_path(), sums, {"unit": "1", "description": SUMS_TEXT}))


def _arrays(path: Path, h5: object) -> list[str]:
    """Finished arrays whose data do not match their per-array checksum."""
    from mtj_hil.runs.store.runfile import RunFile

    sinks = _sink_types()
    run = RunFile(h5, path)  # type: ignore[arg-type]
    try:
        sink_type = sinks.get(run.kind)
    except KeyError:
        return [f"{path}: has no 'kind' attribute"]
    if sink_type is None:
        return []
    try:
        sink = sink_type(run)
        sink.check_arrays_whole()
        bad = sink.unverified_arrays()
    except StoreError as exc:
        return [str(exc)]
    return [
        f"{path}: array {a}: data do not match its checksum ({sink_type.GROUP}/array_sha256)"
        for a in bad
    ]


def verify_run_file(path: str | Path, *, parts: bool = True) -> int:
    """Check the run file at ``path`` end to end (:func:`verify_run`, ``parts`` as there);
    the number of datasets read.

    Raises:
        StoreError: anything is wrong, every problem named (file, dataset or part).
    """
    path = Path(path)
    problems = verify_run(path, parts=parts)
    if problems:
        raise StoreError("; ".join(problems))
    from mtj_hil.runs.store.runfile import RunFile

    with RunFile.open(path) as run:
        count, _ = unreadable(run.h5)
    return count


def carries_checksums(path: str | Path) -> bool:
    """Whether any dataset of the run file ``path`` carries a ``sha256`` attribute (files
    of mtj-hil 0.1 carry none: their values cannot be checked, only read)."""
    tree = load_tree(Path(path), writable=False)
    with tree.h5 as h5:  # visititems stops at the first object that returns a value
        return bool(h5.visititems(lambda _, obj: True if CHECKSUM_ATTR in obj.attrs else None))


def header_lost(path: str | Path) -> bool:
    """Whether the run file ``path`` has no checksum header although its datasets carry
    checksums (a writer since 0.1 wrote it): it was rewritten by another program, or its
    header is damaged, so its root attributes (die id, plan, status) cannot be verified."""
    with Path(path).open("rb") as fh:  # the header and where HDF5 would follow it
        head = fh.read(USERBLOCK + len(HDF5_SIGNATURE))
    if has_header(head):
        return False
    try:
        return carries_checksums(path)
    except StoreError:
        return False  # not a run file at all: the command reading it names that


def unverified_header_note(path: str | Path) -> str | None:
    """The sentence a reader says of a run file whose header was lost (:func:`header_lost`),
    None when it has its header or never had one (mtj-hil 0.1)."""
    if not header_lost(path):
        return None
    return (
        f"{path} has no checksum header, though its datasets carry checksums: it was "
        "rewritten by another program or its header is damaged, so its attributes (die id, "
        "plan, status, fit results) are not verified; use the original run file if you have it"
    )
