"""What a run file's datasets and attributes must be (types, shapes, values), checked when
the file is opened (:func:`check_run`).

A file that passes its checksum may still not hold what mtj-hil wrote: one written or edited
by another program (its checksum recomputed), or one of mtj-hil 0.1 (no checksum). Each kind's
store declares what its datasets look like (``RunSink.STRUCTURE``: a dataset path and its
:class:`Expect`); :func:`check_structure` compares the file with it before any reader uses
the data, so a dataset of the wrong type or shape is refused in one line naming it, never
met later as a failure inside numpy or xarray; likewise its JSON and numeric attributes
(``RunSink.ATTRIBUTES``, :func:`check_attributes`). Datasets a file does not hold are not
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
import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.runs.store.attribute_values import (  # noqa: F401 (FORMAT, is_run_format: re-exported)
    FORMAT,
    format_version_of,
    is_run_format,
    is_text,
    not_a_run_said,
)
from mtj_hil.runs.store.required import refuse_missing

FORMAT_VERSION = 1
"""The newest run-file format this mtj-hil reads and writes."""
STATUSES = ("running", "completed", "aborted", "failed")
"""The values of a run file's ``status`` attribute."""

ROOT_TEXTS = ("kind", "status", "die_id", "run_id", "started", "ended", "status_reason",
              "operator", "host", "command", "package_version", "git_revision", "python",
              "seed", "journal_folder")  # fmt: skip
"""The root attributes of every run file that hold a text (its provenance)."""

KIND_NAMES = {
    "b": "boolean",
    "i": "integer",
    "u": "integer",
    "f": "float",
    "S": "text",
    "O": "text",
}


@dataclass(frozen=True)
class PlanRecord:
    """What a kind's stored plan holds (:func:`check_plan_record`): each setting's
    :data:`INT`, :data:`FLOATS`...; those ``required`` to resume the run (a reader needs
    none: a run made through the library may store an empty plan); ``closed``: no others
    allowed."""

    settings: Mapping[str, str]
    required: tuple[str, ...] = ()
    closed: bool = False

    def refuse_resume(self, path: Path | str, plan: Any) -> None:
        """Refuse to resume the run at ``path`` whose stored ``plan`` (JSON data) lacks a
        setting the resume needs (an empty plan, from the library, is the caller's to give).

        Raises:
            StoreError: naming the first missing setting.
        """
        if not isinstance(plan, dict):
            raise StoreError(f"{path} records no usable plan; it cannot be resumed")
        missing = [k for k in self.required if k not in plan] if plan else []
        if missing:
            raise StoreError(
                f"{path} records no usable plan (it lacks the setting {missing[0]}); it "
                "cannot be resumed"
            )


@dataclass(frozen=True)
class Expect:
    """What one dataset must be.

    ``kinds``: numpy dtype kinds allowed (``"iu"`` integers, ``"f"`` floats, ``"b"`` bool,
    ``"S"`` bytes). ``dims``: one entry per dimension: an int is a fixed size; a name is a
    size shared by every dataset that names it (``rows`` and ``cols`` come from the run's
    layout); a name ending in ``+`` is at least the size of that name (a stream may hold
    rows past its index while a run is written); ``*`` is any size. ``dims=None``: any shape.
    ``index``: the values are array indices on the die (``0 <= value < n_arrays``).
    ``bounds``: the least and largest value it may hold (codes, probabilities; NaN passes).
    ``unit``: its ``unit`` attribute (a reader takes the values in that unit, never another).
    """

    kinds: str
    dims: tuple[str | int, ...] | None = None
    index: bool = False
    bounds: tuple[float, float] | None = None
    unit: str | None = None


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
        if expect.bounds is not None and obj.size:
            values, (low, high) = obj[()], expect.bounds
            if np.nanmin(values, initial=low) < low or np.nanmax(values, initial=high) > high:
                raise StoreError(
                    f"{path}: dataset {name} holds values outside {low:g}...{high:g}, the "
                    f"values mtj-hil writes: {_hint()}"
                )
        found = obj.attrs.get("unit")
        found = found.decode() if isinstance(found, bytes) else found
        if expect.unit is not None and found not in (None, "") and str(found) != expect.unit:
            raise StoreError(
                f"{path}: dataset {name} is in {str(found)[:20]!r} where mtj-hil writes "
                f"{expect.unit!r}, the unit every reader takes it in: {_hint()}"
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


OBJECT, LIST, NUMBER = "a JSON object", "a JSON list", "a number"
"""What an attribute holds (:func:`check_attributes`)."""


@dataclass(frozen=True)
class Json:
    """An attribute holding a JSON object (``of=OBJECT``) or a list of objects
    (``of=LIST``) whose ``numbers`` fields (``"a.b"``: field ``b`` of the object in ``a``;
    ``"a[].b"``: of every object in the list ``a``), where present, are numbers; or
    (``texts=True``, ``of=LIST``) a list of texts."""

    of: str
    numbers: tuple[str, ...] = ()
    texts: bool = False
    needs: tuple[str, tuple[str, ...]] | None = None
    """``(field, fields)``: when ``field`` is there and not 0, ``fields`` must be too (each
    object's)."""

    def __str__(self) -> str:
        if self.texts:
            return "a JSON list of texts"
        inner = f" whose {', '.join(self.numbers)} are numbers" if self.numbers else ""
        if self.needs is not None:
            inner += f", with {', '.join(self.needs[1])} where {self.needs[0]} is not 0"
        return ("a JSON list of objects" if self.of == LIST else self.of) + inner


def _field_holds(value: Any, parts: list[str]) -> bool:
    """Whether the field path ``parts`` (``"x[]"``: every object of the list ``x``) of
    ``value`` is a number, or absent."""
    if not parts:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if not isinstance(value, dict):
        return False
    key, each = parts[0].removesuffix("[]"), parts[0].endswith("[]")
    if key not in value:
        return True
    if not each:
        return _field_holds(value[key], parts[1:])
    items = value[key]
    return isinstance(items, list) and all(_field_holds(i, parts[1:]) for i in items)


def _fields_hold(obj: Any, want: Json) -> bool:
    if not isinstance(obj, dict):
        return False
    needed = want.needs[1] if want.needs is not None and obj.get(want.needs[0]) else ()
    if any(name not in obj for name in needed):
        return False
    return all(_field_holds(obj, n.split(".")) for n in want.numbers)


def _holds_json(value: Any, want: Json) -> bool:
    try:
        decoded = json.loads(value.decode() if isinstance(value, bytes) else str(value))
    except ValueError:
        return False
    if want.of == OBJECT:
        return _fields_hold(decoded, want)
    if not isinstance(decoded, list):
        return False
    if want.texts:
        return all(isinstance(item, str) for item in decoded)
    return all(_fields_hold(item, want) for item in decoded)


def _holds(value: Any, want: str | Json) -> bool:
    if isinstance(want, Json):
        return _holds_json(value, want)
    if want == NUMBER:
        return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
            value, bool | np.bool_
        )
    try:
        decoded = json.loads(value.decode() if isinstance(value, bytes) else str(value))
    except ValueError:
        return False
    return isinstance(decoded, dict if want == OBJECT else list)


_LAYOUT_NUMBERS = (
    ("n_arrays", "rows", "cols", "nominal_g_p", "nominal_g_ap")
    + tuple(f"nominal_pulse.{n}" for n in ("amplitude", "width"))
    + tuple(
        f"limits.{n}"
        for n in ("max_read_voltage", "min_pulse_amplitude", "max_pulse_amplitude")
        + ("min_pulse_width", "max_pulse_width")
    )
)
ROOT_ATTRIBUTES = {
    "@plan": OBJECT,
    "@layout": Json(OBJECT, _LAYOUT_NUMBERS),
    "@station": OBJECT,
    "@resumed": LIST,
}
"""What the root attributes of a run of a measurement kind hold, when present."""
REQUIRED_ROOT = ("plan", "layout")
"""Root attributes a run of a measurement kind cannot be read without."""


def check_attributes(h5: h5py.File, path: str | Path, expected: Mapping[str, str | Json]) -> None:
    """Check the attributes ``"group@name"`` (``"@name"``: of the root) that the run tree
    ``h5`` holds against what they must hold (:data:`OBJECT`, :data:`LIST`, :data:`NUMBER`,
    or a :class:`Json` that also says what some fields inside hold).

    Raises:
        StoreError: naming the file, the first attribute that is not as expected and what it
            should hold.
    """
    for key, want in expected.items():
        group, _, name = key.partition("@")
        obj = h5.get(group) if group else h5
        if obj is None or name not in obj.attrs:
            continue
        if not _holds(obj.attrs[name], want):
            where = f"{name} (of {group})" if group else name
            raise StoreError(
                f"{Path(path)}: its attributes are not as mtj-hil writes them: {where} is not "
                f"{want}; {_hint()}"
            )


INT, FLOAT, BOOL, TEXT = "an integer", "a number", "true or false", "a text"
INTS, FLOATS = "a list of integers", "a list of numbers"
PULSE = "null or a pulse {amplitude, width} in numbers"
DEVICES = "a list of [array, row, column] integers"
"""What a setting of a stored plan holds (:func:`check_plan_record`); ``"... or null"``:
the same or null (``OR_NULL``)."""
OR_NULL = " or null"


def _is_int(v: Any) -> bool:
    return isinstance(v, int) and not isinstance(v, bool)


def _is_number(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)


_PLAN_CHECKS = {
    INT: _is_int,
    FLOAT: _is_number,
    BOOL: lambda v: isinstance(v, bool),
    TEXT: lambda v: isinstance(v, str),
    INTS: lambda v: isinstance(v, list) and all(map(_is_int, v)),
    FLOATS: lambda v: isinstance(v, list) and all(map(_is_number, v)),
    PULSE: lambda v: (
        v is None
        or (
            isinstance(v, dict)
            and set(v) == {"amplitude", "width"}
            and all(map(_is_number, v.values()))
        )
    ),
    DEVICES: lambda v: (
        isinstance(v, list)
        and all(isinstance(d, list) and len(d) == 3 and all(map(_is_int, d)) for d in v)
    ),
}


def check_plan_record(
    h5: h5py.File,
    path: str | Path,
    settings: Mapping[str, str],
    required: tuple[str, ...] = (),
    closed: bool = False,
) -> None:
    """Check the run's stored plan (root attribute ``plan``, a JSON object) against what
    each of its ``settings`` holds (:data:`INT`, :data:`FLOATS`...; ``+ OR_NULL``): the
    ``required`` ones must be there; with ``closed``, no other setting may be (the plan
    is rebuilt from every setting it holds). Settings a file lacks take their defaults.

    Raises:
        StoreError: naming the file and the first setting that is not as mtj-hil writes it.
    """
    raw = h5.attrs.get("plan")
    try:
        plan = json.loads(raw.decode() if isinstance(raw, bytes) else str(raw))
    except (TypeError, ValueError):
        return  # not JSON at all: check_attributes names it
    if not isinstance(plan, dict):
        return
    problem = ""
    missing = [k for k in required if k not in plan]
    unknown = sorted(set(plan) - set(settings)) if closed else []
    if missing:
        problem = f"it lacks the setting {missing[0]}"
    elif unknown:
        problem = f"it holds a setting {unknown[0]!r} this mtj-hil does not know"
    for key, want in settings.items():
        if problem or key not in plan:
            continue
        value, base = plan[key], want.removesuffix(OR_NULL)
        if not (value is None and want.endswith(OR_NULL)) and not _PLAN_CHECKS[base](value):
            problem = f"its setting {key} is {json.dumps(value)[:40]}, not {want}"
    if problem:
        raise StoreError(
            f"{Path(path)}: its stored plan is not as mtj-hil writes it: {problem}; {_hint()}"
        )


def check_run(h5: h5py.File, path: str | Path, kind: str | None) -> None:
    """Check a run tree of ``kind`` against what its store declares (``STRUCTURE`` for the
    datasets, ``ATTRIBUTES`` for the attributes; :mod:`mtj_hil.kinds`). A kind that is not
    a measurement kind (a network, an experiment) is not checked beyond its provenance
    (:data:`ROOT_TEXTS` must be texts).

    Raises:
        StoreError: naming the file and what in it is not as mtj-hil writes it.
    """
    from mtj_hil.kinds import file_kind

    for name in ROOT_TEXTS:
        if name in h5.attrs and not is_text(h5.attrs[name]):
            raise StoreError(
                f"{Path(path)}: its {name} attribute is not a (UTF-8) text: the file is damaged "
                "or was not written by mtj-hil"
            )

    measurement = file_kind(kind)
    store = measurement.piece("store") if measurement is not None else None
    if store is None:
        return
    missing = [name for name in REQUIRED_ROOT if name not in h5.attrs]
    if missing:  # every writer, 0.1 too, gives a run of a measurement kind both
        raise StoreError(
            f"{Path(path)}: its {' and '.join(missing)} attribute{'s are' if len(missing) > 1 else ' is'} "
            "gone: the file is damaged"
        )
    check_attributes(h5, path, {**ROOT_ATTRIBUTES, **getattr(store, "ATTRIBUTES", {})})
    plan = getattr(store, "PLAN", None)
    if plan is not None:  # (required settings: by the resume, which needs them)
        check_plan_record(h5, path, plan.settings, closed=plan.closed)
    check_structure(h5, path, getattr(store, "STRUCTURE", {}))
    refuse_missing(h5, path, kind)


def check_root(h5: h5py.File, path: str | Path, kind: str | None = None) -> None:
    """Check that ``h5`` is an mtj-hil run file (of ``kind`` if given): its root attributes,
    then its datasets and attributes (:func:`check_run`).

    Raises:
        StoreError: a netCDF export or another HDF5 file, a run file without its ``kind``,
            ``status`` or ``die_id``, an unknown status, a format newer than this mtj-hil
            reads, or a run of another kind; naming the file and what to do.
    """
    if "_NCProperties" in h5.attrs:  # netCDF-4 keeps the run's attributes, not its layout
        raise StoreError(
            f"{path} is a netCDF file (as 'mtj-hil export --format netcdf' writes), not a "
            "run file: open it with xarray.open_dataset, or give the run file it was "
            "exported from"
        )
    if not is_run_format(h5.attrs.get("format")):
        raise StoreError(not_a_run_said(h5.attrs, path))
    missing = [name for name in ("kind", "status", "die_id") if name not in h5.attrs]
    if missing:
        raise StoreError(
            f"{path} is an mtj-hil run file without its {' and '.join(missing)} attribute: "
            "the file is damaged"
        )
    status = str(h5.attrs["status"])
    if status not in STATUSES:
        raise StoreError(
            f"{path}: its status attribute {status!r} is none of {', '.join(STATUSES)}: the "
            "file is damaged or was not written by mtj-hil"
        )
    version = format_version_of(h5.attrs.get("format_version", 0))
    if version is None:
        raise StoreError(
            f"{path}: its format_version attribute ({h5.attrs['format_version']}) is not a "
            "whole number >= 0: the file is damaged or was not written by mtj-hil"
        )
    if version > FORMAT_VERSION:
        raise StoreError(
            f"{path} has run-file format {version}; this mtj-hil reads up to {FORMAT_VERSION}"
        )
    found = str(h5.attrs["kind"])
    if kind is not None and found != kind:
        raise StoreError(f"{path} is a {found!r} run, not a {kind!r} run")
    check_run(h5, path, found)
