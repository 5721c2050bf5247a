"""Naming the damage of a run file opened as HDF5: which datasets cannot be read, and why a
file does not open. Used by every reader (``RunFile.__exit__``) and by
:mod:`mtj_hil.runs.store.verify`."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py

_MAX_NAMED = 3


def open_failure(path: Path, exc: OSError) -> str:
    """Why ``path`` does not open: damaged (it is HDF5 but unreadable) or not HDF5 at all."""
    reason = " ".join(str(exc).split())
    try:
        with path.open("rb") as fh:
            hdf5 = fh.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        hdf5 = False
    if hdf5:
        return f"{path} is damaged: its HDF5 structure cannot be read ({reason})"
    return f"cannot open {path} as HDF5: {reason}"


def _reason(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    if "checksum" in text.lower() or "fletcher" in text.lower():
        return "checksum mismatch"
    if "inflate" in text.lower() or "filter" in text.lower():
        return "compressed data corrupt"
    return text[:80] or type(exc).__name__


def unreadable(h5: h5py.File) -> tuple[int, list[tuple[str, str]]]:
    """``(datasets read, [(dataset, problem), ...])`` for every dataset of an open file,
    read chunk by chunk (each chunk's checksum is checked where the dataset has one)."""
    names: list[str] = []
    problems: list[tuple[str, str]] = []

    def visit(name: str, obj: object) -> None:
        if isinstance(obj, h5py.Dataset):
            names.append(name)

    try:
        h5.visititems(visit)
    except Exception as exc:  # noqa: BLE001 - a damaged group is a finding, not a crash
        problems.append(("/", f"the file's structure cannot be read: {_reason(exc)}"))
    for name in names:
        try:
            ds = h5[name]
            if ds.chunks is not None and ds.size:
                for chunk in ds.iter_chunks():
                    ds[chunk]
            else:
                ds[()]
            dict(ds.attrs)
        except Exception as exc:  # noqa: BLE001 - every failure names the dataset
            problems.append((name, _reason(exc)))
    return len(names), problems


def describe(path: Path, problems: list[tuple[str, str]]) -> str:
    """One line naming the file and its damaged datasets."""
    shown = "; ".join(f"dataset /{name.lstrip('/')}: {why}" for name, why in problems[:_MAX_NAMED])
    more = f" (and {len(problems) - _MAX_NAMED} more)" if len(problems) > _MAX_NAMED else ""
    return f"{path} is damaged: {shown}{more}; restore it from a copy or measure again"


def damage(run: Any) -> str | None:
    """The damage of an open run file (a ``RunFile``: ``h5`` and ``path``) as one message,
    or None when every dataset reads."""
    try:
        _, problems = unreadable(run.h5)
    except Exception:  # noqa: BLE001 - the file is beyond reading at all
        return f"{run.path} is damaged: its HDF5 structure cannot be read"
    return describe(run.path, problems) if problems else None


def _from_h5py(exc: BaseException) -> bool:
    tb = exc.__traceback__
    last = None
    while tb is not None:
        last = tb.tb_frame.f_code.co_filename
        tb = tb.tb_next
    return last is not None and ("h5py" in last or "json" in last)


def unreadable_in(run: Any, exc: BaseException) -> str | None:
    """Why reading the open run file failed with ``exc``, as one message naming the file,
    when the file is at fault: a damaged dataset, or an attribute missing or malformed (an
    error raised by h5py or the JSON decoder). None when the file reads fine (the error is
    not the file's)."""
    found = damage(run)
    if found:
        return found
    if _from_h5py(exc):
        reason = " ".join(str(exc).split()).strip("\"'") or type(exc).__name__
        return (
            f"{run.path} cannot be read: {reason} (damaged, or not written by this "
            "version of mtj-hil)"
        )
    return None
