"""The NeXus face of a run file, so generic NeXus readers (nexusformat, h5web, silx, NOMAD)
open it and show its default plot without knowing this tool.

The run's own layout (``/characterization``, ``/defects``, ``/switching`` ...) stays where it
is; beside it the file carries (NeXus base classes, https://manual.nexusformat.org):

- the root as ``NXroot`` with ``@default = "entry"``;
- ``/entry`` (``NXentry``): ``title``, ``experiment_identifier`` (the run id),
  ``start_time``, ``end_time``, ``program_name`` (with ``@version``), ``run_status`` and
  ``@default`` naming its default ``NXdata``;
- ``/entry/instrument`` (``NXinstrument``): ``name`` and the station snapshot (``NXnote``,
  JSON); ``/entry/sample`` (``NXsample``): the die label and its layout;
  ``/entry/plan`` (``NXnote``, JSON): the run's plan;
- once the run has ended, the kind's plots (``NXdata`` with ``@signal``, ``@axes``, the
  data soft-linked to the run's datasets) and its analysis as ``NXprocess``, written by the
  kind's ``nexus`` piece (:mod:`mtj_hil.kinds`, e.g.
  :func:`mtj_hil.runs.store.nexus_plots.characterization_plot`).

:func:`start` is called when a run file is created, :func:`finish` whenever its status
becomes final (again on every resume that ends). Linked datasets also get the NeXus / CF
attributes ``units`` and ``long_name`` beside the run file's own ``unit``/``description``.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

import h5py
import numpy as np

from mtj_hil.fileio import json_text

NX_CLASS = "NX_class"
ENTRY = "entry"
PROGRAM = "mtj-hil"


def set_class(group: h5py.Group, nx_class: str) -> h5py.Group:
    """Mark ``group`` as an instance of NeXus base class ``nx_class``."""
    group.attrs[NX_CLASS] = nx_class
    return group


def subgroup(parent: h5py.Group, name: str, nx_class: str, *, fresh: bool = False) -> h5py.Group:
    """The child group ``name`` of class ``nx_class`` (emptied first with ``fresh``)."""
    if fresh and name in parent:
        del parent[name]
    return set_class(parent.require_group(name), nx_class)


def field(group: h5py.Group, name: str, value: Any, units: str | None = None) -> h5py.Dataset:
    """Write (or replace) the field ``name`` with NeXus ``units`` (none when empty)."""
    if name in group:
        del group[name]
    ds = group.create_dataset(name, data=value)
    if units:
        ds.attrs["units"] = units
    return ds


def note(group: h5py.Group, name: str, data: Any, description: str = "") -> h5py.Group:
    """An ``NXnote`` holding ``data`` as JSON (``type = application/json``): strict JSON,
    a number that is not finite (a NaN amplitude of no recommendation) written as null."""
    grp = subgroup(group, name, "NXnote", fresh=True)
    field(grp, "type", "application/json")
    field(grp, "data", json_text.dumps(data, default=str))
    if description:
        field(grp, "description", description)
    return grp


def link(group: h5py.Group, name: str, target: h5py.Dataset) -> None:
    """Soft-link ``target`` into ``group`` as ``name``, labelling the target with the NeXus
    ``units`` and ``long_name`` its run-file ``unit`` and ``description`` give."""
    if name in group:
        del group[name]
    group[name] = h5py.SoftLink(target.name)
    target.attrs["units"] = str(target.attrs.get("unit", ""))
    if "long_name" not in target.attrs and target.attrs.get("description"):
        target.attrs["long_name"] = str(target.attrs["description"])


def plot(
    entry: h5py.Group,
    name: str,
    signal: h5py.Dataset,
    axes: Sequence[tuple[str, h5py.Dataset | np.ndarray, str]],
    *,
    title: str,
    auxiliary: Sequence[h5py.Dataset] = (),
) -> h5py.Group:
    """An ``NXdata`` group ``name``: ``signal`` plotted against ``axes``.

    ``axes`` is one ``(name, data, units)`` per dimension of the signal: a run-file dataset
    (soft-linked) or an array written into the group. ``auxiliary`` datasets of the
    signal's shape are linked as ``@auxiliary_signals`` (overlaid by some viewers).
    """
    grp = subgroup(entry, name, "NXdata", fresh=True)
    signal_name = signal.name.rsplit("/", 1)[-1]
    link(grp, signal_name, signal)
    for ds in auxiliary:
        link(grp, ds.name.rsplit("/", 1)[-1], ds)
    for index, (axis, data, units) in enumerate(axes):
        if isinstance(data, h5py.Dataset):
            link(grp, axis, data)
        else:  # written here: named for viewers (a run-file dataset brings its own)
            field(grp, axis, np.asarray(data), units).attrs["long_name"] = axis
        grp.attrs[f"{axis}_indices"] = index
    grp.attrs["signal"] = signal_name
    grp.attrs["axes"] = [axis for axis, _, _ in axes]
    if auxiliary:
        grp.attrs["auxiliary_signals"] = [ds.name.rsplit("/", 1)[-1] for ds in auxiliary]
    field(grp, "title", title)
    return grp


def _attr(h5: h5py.File, key: str, default: str = "") -> str:
    value = h5.attrs.get(key, default)
    return value.decode() if isinstance(value, bytes) else str(value)


def _json_attr(h5: h5py.File, key: str) -> Any:
    try:
        return json.loads(_attr(h5, key, "{}") or "{}")
    except json.JSONDecodeError:
        return {}


def start(h5: h5py.File) -> None:
    """Give a new run file (its provenance attributes written) its NeXus skeleton."""
    kind, die = _attr(h5, "kind"), _attr(h5, "die_id")
    h5.attrs[NX_CLASS] = "NXroot"
    h5.attrs["default"] = ENTRY
    h5.attrs["creator"] = PROGRAM
    h5.attrs["file_time"] = _attr(h5, "started")
    entry = subgroup(h5, ENTRY, "NXentry")
    field(entry, "title", f"{kind} run of die {die}")
    field(entry, "experiment_identifier", _attr(h5, "run_id"))
    field(entry, "start_time", _attr(h5, "started"))
    prog = field(entry, "program_name", PROGRAM)
    prog.attrs["version"] = _attr(h5, "package_version")
    prog.attrs["configuration"] = _attr(h5, "git_revision")
    field(entry, "run_status", _attr(h5, "status"))
    station = _json_attr(h5, "station")
    instrument = subgroup(entry, "instrument", "NXinstrument")
    field(instrument, "name", str(station.get("name") or station.get("backend") or "unknown"))
    note(instrument, "station", station, "the station snapshot taken when the run started")
    layout = _json_attr(h5, "layout")
    sample = subgroup(entry, "sample", "NXsample")
    field(sample, "name", die)
    cell = layout.get("cell", "")
    field(
        sample,
        "description",
        f"MTJ crossbar test die: {layout.get('n_arrays', '?')} arrays of "
        f"{layout.get('rows', '?')} x {layout.get('cols', '?')} {cell} cells",
    )
    note(sample, "layout", layout, "arrays, rows, columns, cell type, limits (SI units)")
    note(entry, "plan", _json_attr(h5, "plan"), "what the run measures (SI units)")


def _clear_plots(h5: h5py.File, entry: h5py.Group) -> None:
    """Remove the plots an earlier end of the run wrote (an interrupted run's view of its
    data so far) and the NeXus labels they put on the datasets they link, so that a run
    resumed to its end carries the same NeXus face as one never interrupted."""
    for name in list(entry):
        group = entry.get(name)
        if not isinstance(group, h5py.Group) or group.attrs.get(NX_CLASS) != "NXdata":
            continue
        for member in list(group):
            ref = group.get(member, getlink=True)
            target = h5.get(ref.path) if isinstance(ref, h5py.SoftLink) else None
            if not isinstance(target, h5py.Dataset):
                continue
            labels = {"units": "unit", "long_name": "description"}
            for label, source in labels.items():
                if label in target.attrs and str(target.attrs[label]) == str(
                    target.attrs.get(source, "")
                ):
                    del target.attrs[label]
        del entry[name]


def finish(h5: h5py.File) -> None:
    """Bring the NeXus face of a run whose status just became final up to date: end time,
    status and the kind's plots and analysis (see the module docstring). Files made before
    run files carried NeXus get the skeleton first. A plot the data cannot make is left out
    and the reason recorded as ``/entry/nexus_error`` (it never hides how the run ended)."""
    from mtj_hil.kinds import file_kind

    if ENTRY not in h5:
        start(h5)
    entry = h5[ENTRY]
    field(entry, "end_time", _attr(h5, "ended"))
    field(entry, "run_status", _attr(h5, "status"))
    kind = file_kind(_attr(h5, "kind"))
    builder = kind.piece("nexus") if kind is not None else None
    if "nexus_error" in entry:
        del entry["nexus_error"]
    _clear_plots(h5, entry)
    try:
        default = builder(h5) if builder is not None else None
    except (KeyError, OSError, ValueError, TypeError) as exc:
        # the plots are a view of the data: a run whose data they cannot show (a damaged or
        # odd file) keeps its status and its own error; the reason is recorded here instead
        field(entry, "nexus_error", f"{type(exc).__name__}: {exc}")
        default = None
    if default:
        entry.attrs["default"] = default
    elif "default" in entry.attrs:
        del entry.attrs["default"]
