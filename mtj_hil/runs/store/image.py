"""Checksummed HDF5 images: an HDF5 file built in memory, written in one piece, verified
before a byte of it is parsed.

The first 512 bytes of such a file are an HDF5 *user block* (HDF5 skips it, so h5py, h5dump
and NeXus tools open the file as usual) holding a short text header::

    mtj-hil checksummed HDF5
    sha256 <hex digest of every byte after the user block>
    length <number of bytes after the user block>

A reader checks the digest first and opens the bytes it checked from memory, so a flipped,
zeroed or missing byte is reported as damage and never reaches the HDF5 parser (which may
loop or crash on damaged metadata). Every dataset also carries a ``sha256`` attribute of its
values and, where HDF5 allows it (chunked numeric data), the ``fletcher32`` filter: both
locate the damage when the file digest does not match.
"""

from __future__ import annotations

import hashlib
import os
import stat
import uuid
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.runs.store.sniff import HDF5_SIGNATURE, RUN_HEADER

USERBLOCK = 512
MAGIC = RUN_HEADER
CHECKSUM_ATTR = "sha256"


class ImageDamaged(ValueError):
    """The bytes of an image do not match its recorded digest or length."""


def new_image(userblock: bool = True) -> h5py.File:
    """An empty in-memory HDF5 file (nothing touches the disk) ready for :func:`encode`."""
    name = f"mtj-hil-image-{uuid.uuid4().hex}"
    kwargs: dict[str, Any] = {"userblock_size": USERBLOCK} if userblock else {}
    return h5py.File(name, "w", driver="core", backing_store=False, **kwargs)


def encode(h5: h5py.File) -> bytes:
    """The bytes of the file ``h5`` (made by :func:`new_image`) with its checksummed header."""
    h5.flush()
    body = h5.id.get_file_image()
    header = MAGIC + f"sha256 {hashlib.sha256(body).hexdigest()}\nlength {len(body)}\n".encode()
    return header.ljust(USERBLOCK, b"\0") + body


def has_header(data: bytes) -> bool:
    """Whether ``data`` starts with a checksummed-image header (files of mtj-hil 0.1 do not),
    or with one damaged (:func:`verify` then reports it): a few bytes off, or any header in
    front of an HDF5 file that starts after a :data:`USERBLOCK` (only this writer leaves one;
    0.1 and HDF5 tools such as h5repack start the file at byte 0)."""
    if data.startswith(MAGIC):
        return True
    if data[USERBLOCK : USERBLOCK + 8] == HDF5_SIGNATURE and not data.startswith(HDF5_SIGNATURE):
        return True
    head = data[: len(MAGIC)]
    differing = sum(a != b for a, b in zip(head, MAGIC, strict=False)) + len(MAGIC) - len(head)
    return differing <= 4 and len(data) > USERBLOCK


def verify(data: bytes) -> None:
    """Check the header's digest and length against the bytes after it.

    Raises:
        ImageDamaged: naming what does not match (and where the first 4 KiB block differs
            is not known: the digest covers the whole body).
    """
    if not data.startswith(MAGIC):
        raise ImageDamaged("its checksum header is damaged")
    text, _, padding = data[:USERBLOCK].partition(b"\0")
    if any(padding):
        raise ImageDamaged("its checksum header block holds stray bytes")
    head = text.decode("ascii", "replace").splitlines()
    fields = dict(line.split(" ", 1) for line in head[1:] if " " in line)
    try:
        digest, length = fields["sha256"], int(fields["length"])
    except (KeyError, ValueError) as exc:
        raise ImageDamaged("its checksum header is damaged") from exc
    body = memoryview(data)[USERBLOCK:]
    if len(body) != length:
        raise ImageDamaged(
            f"it holds {len(body)} bytes after its header where {length} were written "
            f"({'truncated' if len(body) < length else 'extended'})"
        )
    if hashlib.sha256(body).hexdigest() != digest:
        raise ImageDamaged("its sha256 checksum does not match its bytes (flipped or zeroed bytes)")


def open_image(data: bytes, writable: bool = False) -> h5py.File:
    """Open HDF5 bytes (with or without a header) from memory.

    Raises:
        OSError: not HDF5, or HDF5 cannot parse it.
    """
    name = f"mtj-hil-image-{uuid.uuid4().hex}"
    fapl = h5py.h5p.create(h5py.h5p.FILE_ACCESS)
    fapl.set_fapl_core(backing_store=False)
    fapl.set_file_image(data)
    flags = h5py.h5f.ACC_RDWR if writable else h5py.h5f.ACC_RDONLY
    fid = h5py.h5f.open(name.encode(), flags, fapl=fapl)
    return h5py.File(fid)


def copy_image(src: h5py.File) -> h5py.File:
    """A writable in-memory copy of ``src`` with a user block (for :func:`encode`)."""
    dst = new_image()
    for key, value in src.attrs.items():
        dst.attrs[key] = value
    for name in src:
        src.copy(src[name], dst, name=name)
    return dst


def read_file(path: Path) -> bytes:
    """Every byte of ``path``.

    Raises:
        OSError: it cannot be read.
        StoreError: it is no regular file (``/dev/zero`` was read until memory ran out, a
            named pipe waited for ever).
    """
    if not stat.S_ISREG(os.stat(path).st_mode):
        raise StoreError(
            f"{path} is not a regular file (a device, pipe or socket); run files and the "
            "files mtj-hil reads are regular files: give another path"
        )
    with open(path, "rb") as f:
        return f.read()


# -- per-dataset checksums ---------------------------------------------------------------------


def dataset_digest(ds: h5py.Dataset) -> str:
    """SHA-256 of a dataset's dtype, shape and values (C order)."""
    h = hashlib.sha256()
    value = ds[()]
    h.update(str(ds.dtype).encode() + str(ds.shape).encode())
    if isinstance(value, np.ndarray) and value.dtype.kind != "O":
        h.update(np.ascontiguousarray(value).tobytes())
    else:
        h.update(repr(value.tolist() if isinstance(value, np.ndarray) else value).encode())
    return h.hexdigest()


def seal(h5: h5py.File) -> None:
    """Record the ``sha256`` of every dataset as its attribute."""

    def visit(_: str, obj: Any) -> None:
        if isinstance(obj, h5py.Dataset):
            obj.attrs[CHECKSUM_ATTR] = dataset_digest(obj)

    h5.visititems(visit)


def damaged_datasets(h5: h5py.File) -> list[str]:
    """``"name: why"`` for every dataset that cannot be read (fletcher32 and other filter
    failures) or whose values differ from its ``sha256`` attribute."""
    out: list[str] = []

    def visit(name: str, obj: Any) -> None:
        if not isinstance(obj, h5py.Dataset):
            return
        try:
            recorded = obj.attrs.get(CHECKSUM_ATTR)
            actual = dataset_digest(obj)
        except Exception as exc:  # noqa: BLE001 - any failure to read is damage
            out.append(f"{name}: cannot be read ({type(exc).__name__}: {exc})")
            return
        if recorded is not None and str(recorded) != actual:
            out.append(f"{name}: values differ from its sha256 checksum")

    try:
        h5.visititems(visit)
    except Exception as exc:  # noqa: BLE001
        out.append(f"(file structure): cannot be walked ({type(exc).__name__}: {exc})")
    return out


def filters(data: np.ndarray) -> dict[str, Any]:
    """Dataset options for ``data``: chunked with fletcher32 (and light gzip) where HDF5
    allows filters (non-empty numeric arrays), none otherwise."""
    if data.ndim == 0 or data.size == 0 or data.dtype.kind not in "biufc":
        return {}
    return {"chunks": True, "fletcher32": True, "compression": "gzip", "compression_opts": 1}
