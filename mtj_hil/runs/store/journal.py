"""The journal of a run file: the changes made since the file was last written whole.

A change to a run (rows appended, a dataset written, attributes set) is an :class:`Op`. The
ops of one commit (an array's data, a status) become one *part*: a small checksummed HDF5
image (see :mod:`mtj_hil.runs.store.image`) written aside, flushed and renamed into the
folder ``<run file>.parts/`` as ``<seq>.h5``. A part is there whole or not at all; once
:func:`write_part` returns it survives a kill and a power cut. Opening a run file replays the
parts newer than the ``journal_seq`` recorded in it, in order, and stops at the first part
that does not verify (those after it are set aside: nothing is trusted out of order).
"""

from __future__ import annotations

import os
import re
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mtj_hil.fileio.atomic import atomic_write, fsync_dir
from mtj_hil.runs.store.image import (
    CHECKSUM_ATTR,
    ImageDamaged,
    encode,
    filters,
    has_header,
    new_image,
    open_image,
    read_file,
    verify,
)

PART_FORMAT = "mtj-hil-run-part"
_PART_NAME = re.compile(r"^(\d{8})\.h5$")


class RecoveryWarning(UserWarning):
    """Something left by a killed process was repaired or set aside (the message says what)."""


@dataclass
class Op:
    """One change to a run file's tree.

    ``kind``: ``append`` (rows to a growing dataset), ``write`` (a whole dataset),
    ``attrs`` (attributes of a group, ``""`` = the root), ``truncate`` (a growing dataset cut
    back to ``length`` rows) or ``delete``. ``meta`` holds a dataset's ``unit`` and
    ``description``, or the attributes to set.
    """

    kind: str
    path: str
    data: np.ndarray | None = None
    meta: dict[str, Any] = field(default_factory=dict)
    length: int = 0


def apply(h5: h5py.File, op: Op) -> None:
    """Make the change ``op`` to the open file ``h5``.

    Raises:
        ValueError: rows of another shape than the dataset's, or an unknown kind.
    """
    if op.kind == "append":
        _append(h5, op)
    elif op.kind == "write":
        if op.path in h5:
            del h5[op.path]
        data = np.asarray(op.data)
        ds = h5.create_dataset(op.path, data=data, **filters(data))
        for key, value in op.meta.items():
            ds.attrs[key] = value
    elif op.kind == "attrs":
        target = h5 if op.path in ("", "/") else h5.require_group(op.path)
        for key, value in op.meta.items():
            target.attrs[key] = value
    elif op.kind == "truncate":
        ds = h5.get(op.path)
        if ds is not None and ds.shape[0] > op.length:
            ds.resize(op.length, axis=0)
            _unseal(ds)
    elif op.kind == "delete":
        if op.path in h5:
            del h5[op.path]
    else:
        raise ValueError(f"unknown journal op {op.kind!r}")


def _append(h5: h5py.File, op: Op) -> None:
    rows = np.asarray(op.data)
    ds = h5.get(op.path)
    if ds is None:
        numeric = rows.dtype.kind in "biufc"
        ds = h5.create_dataset(
            op.path,
            shape=(0, *rows.shape[1:]),
            maxshape=(None, *rows.shape[1:]),
            dtype=rows.dtype,
            chunks=(1, *rows.shape[1:]) if all(rows.shape[1:]) else True,
            **(
                {"fletcher32": True, "compression": "gzip", "compression_opts": 1}
                if numeric
                else {}
            ),
        )
        for key, value in op.meta.items():
            ds.attrs[key] = value
    if ds.shape[1:] != rows.shape[1:]:
        raise ValueError(f"{op.path} holds rows of shape {ds.shape[1:]}, not {rows.shape[1:]}")
    n = ds.shape[0]
    ds.resize(n + rows.shape[0], axis=0)
    ds[n:] = rows
    _unseal(ds)


def _unseal(ds: h5py.Dataset) -> None:
    """Drop a changed dataset's recorded checksum (the next whole write records it anew)."""
    if CHECKSUM_ATTR in ds.attrs:
        del ds.attrs[CHECKSUM_ATTR]


# -- parts on disk -----------------------------------------------------------------------------


def parts_dir(run_path: Path) -> Path:
    """The folder of ``run_path``'s parts (exists only while changes are not folded in)."""
    return run_path.with_name(run_path.name + ".parts")


def encode_part(run_id: str, seq: int, ops: list[Op]) -> bytes:
    """The bytes of part ``seq`` of run ``run_id`` holding ``ops``."""
    h5 = new_image()
    try:
        h5.attrs["format"] = PART_FORMAT
        h5.attrs["run_id"] = run_id
        h5.attrs["seq"] = seq
        h5.attrs["ops"] = len(ops)
        for i, op in enumerate(ops):
            grp = h5.create_group(f"op{i:06d}")
            grp.attrs["kind"] = op.kind
            grp.attrs["path"] = op.path
            grp.attrs["length"] = op.length
            meta = grp.create_group("meta")
            for key, value in op.meta.items():
                meta.attrs[key] = value
            if op.data is not None:
                grp.create_dataset("data", data=np.asarray(op.data))
        return encode(h5)
    finally:
        h5.close()


def write_part(run_path: Path, run_id: str, seq: int, ops: list[Op]) -> Path:
    """Commit ``ops`` durably as part ``seq`` of the run file ``run_path``.

    Raises:
        OSError: the part could not be written (nothing of it is trusted then).
    """
    folder = parts_dir(run_path)
    if not folder.is_dir():
        folder.mkdir()
        fsync_dir(folder.parent)
    path = folder / f"{seq:08d}.h5"
    atomic_write(path, encode_part(run_id, seq, ops), exclusive=True)
    return path


def decode_part(data: bytes, run_id: str, seq: int) -> list[Op]:
    """The ops of a part's bytes, after checking its checksum, run and sequence number.

    Raises:
        ImageDamaged: the bytes do not verify, or the part is of another run or position.
    """
    if not has_header(data):
        raise ImageDamaged("it has no checksum header")
    verify(data)
    try:
        with open_image(data) as h5:
            if h5.attrs.get("format") != PART_FORMAT or h5.attrs.get("run_id") != run_id:
                raise ImageDamaged("it is a part of another run")
            if int(h5.attrs["seq"]) != seq:
                raise ImageDamaged(f"it records position {int(h5.attrs['seq'])}, not {seq}")
            ops = []
            for i in range(int(h5.attrs["ops"])):
                grp = h5[f"op{i:06d}"]
                ops.append(
                    Op(
                        kind=str(grp.attrs["kind"]),
                        path=str(grp.attrs["path"]),
                        data=grp["data"][()] if "data" in grp else None,
                        meta=dict(grp["meta"].attrs.items()),
                        length=int(grp.attrs["length"]),
                    )
                )
            return ops
    except (OSError, KeyError, ValueError) as exc:
        if isinstance(exc, ImageDamaged):
            raise
        raise ImageDamaged(f"it cannot be parsed ({exc})") from exc


def list_parts(run_path: Path) -> list[tuple[int, Path]]:
    """``(seq, path)`` of every part file of ``run_path``, in order."""
    folder = parts_dir(run_path)
    try:
        names = os.listdir(folder)
    except FileNotFoundError:
        return []
    out = []
    for name in names:
        m = _PART_NAME.match(name)
        if m:
            out.append((int(m.group(1)), folder / name))
    return sorted(out)


@dataclass
class Replay:
    """What :func:`read_parts` found: the ops to replay (part by part), the last sequence
    number replayed, the parts already folded in, and untrusted parts with why."""

    ops: list[list[Op]] = field(default_factory=list)
    last_seq: int = 0
    folded: list[Path] = field(default_factory=list)
    untrusted: list[tuple[Path, str]] = field(default_factory=list)


def read_parts(run_path: Path, run_id: str, base_seq: int) -> Replay:
    """The parts of ``run_path`` newer than ``base_seq``, verified, in order.

    A gap in the numbering or a part that does not verify ends the replay: it and every
    later part are listed as untrusted.

    Raises:
        FileNotFoundError: a part vanished while being read (a writer folded it meanwhile;
            read again).
    """
    out = Replay(last_seq=base_seq)
    for seq, path in list_parts(run_path):
        if seq <= base_seq:
            out.folded.append(path)
            continue
        if out.untrusted:
            out.untrusted.append((path, "it comes after an untrusted part"))
            continue
        if seq != out.last_seq + 1:
            out.untrusted.append((path, f"part {out.last_seq + 1} is missing before it"))
            continue
        try:
            out.ops.append(decode_part(read_file(path), run_id, seq))
            out.last_seq = seq
        except ImageDamaged as exc:
            out.untrusted.append((path, str(exc)))
    return out


def set_aside(untrusted: list[tuple[Path, str]]) -> None:
    """Rename untrusted parts to ``<name>.untrusted`` (kept for inspection, never replayed),
    with a :class:`RecoveryWarning` naming each."""
    for path, why in untrusted:
        try:
            path.rename(path.with_name(path.name + ".untrusted"))
        except FileNotFoundError:
            continue
        warnings.warn(
            f"{path} is not trusted ({why}); set aside as {path.name}.untrusted: its data "
            "will be measured again",
            RecoveryWarning,
            stacklevel=3,
        )


def remove_parts(run_path: Path, paths: list[Path], strict: bool = False) -> None:
    """Remove folded parts and, when empty, the parts folder: best effort for a reader (it
    may lack the permission), ``strict`` for the writer, where a failure means the disk is
    failing and nothing more should be measured onto it.

    Raises:
        OSError: with ``strict``, a part or the folder could not be removed.
    """
    removed = False
    for path in paths:
        try:
            path.unlink()
            removed = True
        except FileNotFoundError:
            pass
        except OSError:
            if strict:
                raise
    folder = parts_dir(run_path)
    try:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
            removed = True
        if removed:
            fsync_dir(run_path.parent)
    except OSError:
        if strict:
            raise


def journal_left_behind(run_path: Path, attrs: Any) -> str | None:
    """What to tell the operator when the run file ``run_path`` (root attributes ``attrs``)
    was moved without its journal: its parts folder is not next to it, but the file records
    another one (``journal_folder``, written with the whole file) that holds parts of this
    run newer than the file, or the file was left by a session that never ended (status
    ``running``). ``None`` when nothing is amiss. The arrays such parts hold are measured
    again on resume; the message says which and which folder to move where to keep them."""
    here = parts_dir(run_path.absolute())
    recorded = str(attrs.get("journal_folder", "") or "")
    if not recorded or here.exists() or Path(recorded) == here:
        return None
    there = Path(recorded)
    old_run = there.with_name(there.name.removesuffix(".parts"))
    keep = f"to keep them, stop (Ctrl-C) and move or copy {there} to {here}, then resume again"
    try:
        replay = read_parts(old_run, str(attrs.get("run_id", "")), int(attrs["journal_seq"]))
    except (OSError, KeyError, ValueError, TypeError):
        replay = Replay()
    if replay.ops:
        arrays = sorted(
            {
                int(a)
                for ops in replay.ops
                for op in ops
                if op.kind == "append" and op.path.endswith("/array_index") and op.data is not None
                for a in np.ravel(op.data)
            }
        )
        what = f"arrays {', '.join(map(str, arrays))}" if arrays else "changes"
        return (
            f"{run_path} was moved from {old_run} without its journal: {there} holds "
            f"{len(replay.ops)} committed part(s) of this run ({what}) that are not next to "
            f"it at {here}; those {what} will be measured again; {keep}"
        )
    if str(attrs.get("status", "")) == "running":
        return (
            f"{run_path} was written as {old_run} by a session that did not end, and no "
            f"journal is next to it at {here}: if that session committed arrays to its "
            f"journal folder ({there.name}) and the folder was not moved with the file, "
            f"those arrays will be measured again; to keep them, stop (Ctrl-C) and move that "
            f"folder to {here}, then resume again"
        )
    return None
