"""The shapes and types a run file's datasets must have, checked when the file is opened.

A file that passes its checksum may still not hold what mtj-hil wrote: one written or edited
by another program (its checksum recomputed), or one of mtj-hil 0.1 (no checksum). Each kind's
store declares what its datasets look like (``RunSink.STRUCTURE``: a dataset path and its
:class:`Expect`); :func:`check_structure` compares the file with it before any reader uses
the data, so a dataset of the wrong type or shape is refused in one line naming it, never
met later as a failure inside numpy or xarray. Datasets a file does not hold are not
required here (older files lack some; the readers name a missing one they need), and
datasets nobody declares are left alone.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import h5py

from mtj_hil.errors import StoreError

KIND_NAMES = {
    "b": "boolean",
    "i": "integer",
    "u": "integer",
    "f": "float",
    "S": "text",
    "O": "text",
}


@dataclass(frozen=True)
class Expect:
    """What one dataset must be.

    ``kinds``: numpy dtype kinds allowed (``"iu"`` integers, ``"f"`` floats, ``"b"`` bool,
    ``"S"`` bytes). ``dims``: one entry per dimension: an int is a fixed size; a name is a
    size shared by every dataset that names it (``rows`` and ``cols`` come from the run's
    layout); a name ending in ``+`` is at least the size of that name (a stream may hold
    rows past its index while a run is written); ``*`` is any size. ``dims=None``: any shape.
    ``index``: the values are array indices on the die (``0 <= value < n_arrays``).
    """

    kinds: str
    dims: tuple[str | int, ...] | None = None
    index: bool = False


def _layout_sizes(h5: h5py.File, path: Path) -> dict[str, int]:
    """``rows``, ``cols`` and ``n_arrays`` from the run's layout (those it gives)."""
    raw = h5.attrs.get("layout", "{}")
    try:
        layout = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
        if not isinstance(layout, dict):
            raise TypeError("not an object")
        sizes = {k: int(layout[k]) for k in ("rows", "cols", "n_arrays") if k in layout}
    except (TypeError, ValueError) as exc:
        raise StoreError(
            f"{path}: its layout attribute is not the JSON object mtj-hil writes: the file "
            "is damaged or was not written by mtj-hil"
        ) from exc
    return sizes


def _describe(expect: Expect) -> str:
    kinds = sorted({KIND_NAMES.get(k, k) for k in expect.kinds})
    what = " or ".join(kinds)
    if expect.dims is None:
        return what
    return f"{what} of shape ({', '.join(str(d) for d in expect.dims)})"


def check_structure(h5: h5py.File, path: str | Path, expected: Mapping[str, Expect]) -> None:
    """Check the datasets of the run tree ``h5`` (of the file ``path``) against ``expected``.

    Raises:
        StoreError: naming the file, the first dataset that is not as expected, what it is
            and what it should be.
    """
    path = Path(path)
    if not expected:
        return
    sizes = _layout_sizes(h5, path)
    bound_by = {name: "the layout" for name in sizes}
    at_least: list[tuple[str, str, int]] = []
    for name, expect in expected.items():
        obj = h5.get(name)
        if obj is None:
            continue
        if not isinstance(obj, h5py.Dataset):
            raise StoreError(f"{path}: {name} is a group where a dataset belongs: {_hint()}")
        shape, kind = obj.shape, obj.dtype.kind
        if shape is None or kind not in expect.kinds:
            raise StoreError(
                f"{path}: dataset {name} holds {obj.dtype} {_shape(shape)} where mtj-hil writes "
                f"{_describe(expect)}: {_hint()}"
            )
        if expect.dims is not None:
            if len(shape) != len(expect.dims):
                raise StoreError(
                    f"{path}: dataset {name} has shape {_shape(shape)} where mtj-hil writes "
                    f"{_describe(expect)}: {_hint()}"
                )
            for dim, size in zip(expect.dims, shape, strict=True):
                if dim == "*":
                    continue
                if isinstance(dim, int) or dim in sizes:
                    want = dim if isinstance(dim, int) else sizes[dim]
                    if size != want:
                        raise StoreError(
                            f"{path}: dataset {name} has shape {_shape(shape)} where mtj-hil "
                            f"writes {_describe(expect)}{_given(expect, sizes, bound_by)}: "
                            f"{_hint()}"
                        )
                elif dim.endswith("+"):
                    at_least.append((name, dim[:-1], size))
                else:
                    sizes[dim], bound_by[dim] = size, name
        if expect.index and obj.size and "n_arrays" in sizes:
            values = obj[()]
            if values.min() < 0 or values.max() >= sizes["n_arrays"]:
                raise StoreError(
                    f"{path}: dataset {name} names arrays outside the die's 0..."
                    f"{sizes['n_arrays'] - 1}: {_hint()}"
                )
    for name, dim, size in at_least:
        if dim in sizes and size < sizes[dim]:
            raise StoreError(
                f"{path}: dataset {name} holds {size} rows where {bound_by[dim]} counts "
                f"{sizes[dim]}: {_hint()}"
            )


def _given(expect: Expect, sizes: dict[str, int], bound_by: dict[str, str]) -> str:
    named = [d for d in expect.dims or () if isinstance(d, str) and d in sizes]
    if not named:
        return ""
    return " (" + ", ".join(f"{d} = {sizes[d]} from {bound_by[d]}" for d in named) + ")"


def _shape(shape: tuple[int, ...] | None) -> str:
    return "(empty)" if shape is None else f"({', '.join(str(s) for s in shape)})"


def _hint() -> str:
    return "the file was changed by another program or is damaged; restore it from a copy"


def expected_for(kind: str | None) -> Mapping[str, Any]:
    """The declared structure of run files of ``kind`` (empty for a kind that declares
    none, or none at all): its store's ``STRUCTURE`` (:mod:`mtj_hil.kinds`)."""
    from mtj_hil.kinds import file_kind

    measurement = file_kind(kind)
    store = measurement.piece("store") if measurement is not None else None
    return getattr(store, "STRUCTURE", {}) if store is not None else {}
