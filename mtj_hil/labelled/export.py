"""Export of a finished run: NetCDF (the labelled dataset, readable by ``xarray`` and by any
netCDF-4 tool), CSV (one table per set of dimensions, for spreadsheets) or NeXus (a copy of
the run file with its NeXus face brought up to date, for files written before run files
carried it; the copy is checksummed like any run file).

Nothing existing is overwritten unless ``force``, the input never (not through a hard link or
a second mount either); every output is written whole or not at all
(:mod:`mtj_hil.labelled.outputs`), so a failure leaves no half-written file or folder.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import xarray as xr

from mtj_hil.errors import StoreError, as_typed
from mtj_hil.fileio import json_text
from mtj_hil.labelled.load import check_intact, load_dataset
from mtj_hil.labelled.outputs import check_target, replacing, write_folder
from mtj_hil.labelled.source import open_run, provenance
from mtj_hil.runs.store import nexus
from mtj_hil.runs.store.image import copy_image, encode, seal
from mtj_hil.runs.store.reading import load_tree
from mtj_hil.runs.store.resume import finish_hint
from mtj_hil.runs.store.verify import backfill_array_sums

FORMATS = ("netcdf", "csv", "nexus")
SUFFIX = {"netcdf": ".nc", "csv": "-csv", "nexus": ".nxs"}


def default_output(path: str | Path, fmt: str) -> Path:
    """``run.h5`` -> ``run.nc`` (NetCDF), ``run-csv/`` (CSV folder), ``run.nxs`` (NeXus)."""
    path = Path(path)
    return path.with_name(path.stem + SUFFIX[fmt])


def export_run(
    path: str | Path, fmt: str, out: str | Path | None = None, *, force: bool = False
) -> list[Path]:
    """Export the finished run at ``path`` as ``fmt`` (one of :data:`FORMATS`) to ``out``
    (default :func:`default_output`); returns the files written.

    Raises:
        StoreError: not a run file, an unfinished run, damaged data (what ``show``
            refuses: checksums that do not match, a dataset missing or unreadable), an
            output that exists (without ``force``) or cannot be written.
        ValueError: an unknown format.
    """
    if fmt not in FORMATS:
        raise ValueError(f"format must be one of {', '.join(FORMATS)}, got {fmt!r}")
    path = Path(path)
    with open_run(path) as run:
        status = run.status
        if status != "completed":
            raise StoreError(
                f"{path} is an unfinished run (status {status!r}); "
                f"{finish_hint(provenance(run), path)}"
            )
    target = Path(out) if out is not None else default_output(path, fmt)
    check_target(target, [path], "the run file itself", force=force, folder=fmt == "csv")
    if fmt == "nexus":
        check_intact(path)  # damaged data are refused, as show refuses them
        data = nexus_image(path)
        with replacing(target) as tmp:
            tmp.write_bytes(data)
        return [target]
    return write_dataset(load_dataset(path), fmt, target, force=force)  # checked as show reads


def write_dataset(ds: xr.Dataset, fmt: str, target: Path, *, force: bool = False) -> list[Path]:
    """Write ``ds`` as ``fmt`` (``netcdf``: the file ``target``; ``csv``: the folder
    ``target``, see :func:`write_csv`), whole or not at all; returns the files written.

    Raises:
        StoreError: the output cannot be written (nothing new is left behind).
    """
    ds = strict_json(typed_text(ds))
    if fmt == "netcdf":
        with replacing(target) as tmp:
            write_netcdf(increasing(ds), tmp)
        return [target]
    return write_csv(ds, target, force=force)


def increasing(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with every numeric dimension coordinate in increasing order, as CF asks of a
    coordinate variable (CF 1.10, section 1.3: strictly monotonic): a run measures its
    arrays in plan order (``--arrays 3,0,2``), and ``sel(array=slice(0, 2))`` on such a
    coordinate came back empty or short in xarray. The measurement order stays in the
    ``arrays_done`` attribute (and ``array_session``, ``array_start``). ``ds`` itself is not
    changed."""
    for dim in ds.dims:
        if dim not in ds.coords or ds[dim].dtype.kind not in "iuf":
            continue
        if not ds.indexes[dim].is_monotonic_increasing:
            ds = ds.sortby(dim)
    return ds


def typed_text(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with every text (attributes, text variables) as the user typed it
    (:func:`mtj_hil.errors.as_typed`): a run file's path in a folder named in letters the
    locale lacks (``LC_ALL=C``) reaches the dataset as surrogates, which neither netCDF nor
    a UTF-8 CSV file can hold. ``ds`` itself is not changed."""
    out = ds.copy()
    out.attrs = _typed_attrs(ds.attrs)
    for name, v in ds.variables.items():
        if v.dtype.kind in "OU" and v.size:
            texts = [as_typed(x) if isinstance(x, str) else x for x in v.values.ravel().tolist()]
            kind = object if v.dtype.kind == "O" else str
            out[name] = v.copy(data=np.array(texts, dtype=kind).reshape(v.shape))
        out[name].attrs = _typed_attrs(v.attrs)
    return out


def strict_json(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with every JSON text attribute (the plan, a switching run's recommendation,
    floors ...) as strict JSON (:func:`mtj_hil.fileio.json_text.strict_text`): Python wrote
    a missing value as ``NaN``, which JavaScript's ``JSON.parse`` and other strict parsers
    refuse; it is ``null`` here. ``ds`` itself is not changed."""
    out = ds.copy()
    out.attrs = _strict_attrs(ds.attrs)
    for name, v in ds.variables.items():
        out[name].attrs = _strict_attrs(v.attrs)
    return out


def _strict_attrs(attrs: dict) -> dict:
    return {k: json_text.strict_text(v) if isinstance(v, str) else v for k, v in attrs.items()}


def _typed_attrs(attrs: dict) -> dict:
    return {k: as_typed(v) if isinstance(v, str) else v for k, v in attrs.items()}


def nexus_image(path: str | Path) -> bytes:
    """The bytes of a copy of the run file ``path`` (with its committed journal) whose NeXus
    face is brought up to date, written the way the run store writes (checksummed header,
    per-dataset checksums), so mtj-hil reads the copy back like any run file.

    Raises:
        StoreError: ``path`` cannot be read or is damaged.
    """
    tree = load_tree(Path(path), writable=True)
    h5 = tree.h5
    if not tree.checksummed:  # a file of 0.1: copied into an image that can be written whole
        try:
            h5 = copy_image(tree.h5)
        finally:
            tree.h5.close()
        backfill_array_sums(h5, Path(path))  # sealed below as a current file: it needs them
    try:
        nexus.finish(h5)
        seal(h5)
        return encode(h5)
    finally:
        h5.close()


def write_netcdf(ds: xr.Dataset, path: str | Path) -> Path:
    """Write ``ds`` as netCDF-4 (HDF5 underneath, via h5netcdf), compressed.

    The file is made in memory and written in one go: HDF5 writing straight onto a disk
    that filled up printed a hundred lines of errors and then crashed the process
    (segmentation fault), leaving its temporary file on the full disk.

    Raises:
        StoreError: the dataset cannot be encoded.
        OSError: the file cannot be written (the caller names it).
    """
    encoding = {
        name: {"zlib": True, "complevel": 1}
        for name, v in ds.data_vars.items()
        if v.dtype.kind in "biuf" and v.ndim > 0
    }
    # coordinates hold no missing values: CF (section 5) forbids a _FillValue on them,
    # which xarray otherwise gives every float coordinate
    encoding.update({name: {"_FillValue": None} for name in ds.coords})
    try:
        data = ds.to_netcdf(engine="h5netcdf", encoding=encoding)
    except (OSError, ValueError, TypeError) as exc:
        raise StoreError(f"cannot write NetCDF file {path}: {exc}") from exc
    with open(path, "wb") as f:
        f.write(data)
    return Path(path)


def csv_tables(ds: xr.Dataset) -> dict[str, xr.Dataset]:
    """The variables of ``ds`` grouped by their dimensions: one table per group, named by
    its dimensions joined with ``-`` (``array-row-column`` ...; ``scalars`` for none)."""
    groups: dict[tuple[str, ...], list[str]] = {}
    for name, v in ds.data_vars.items():
        groups.setdefault(tuple(str(d) for d in v.dims), []).append(str(name))
    return {("-".join(dims) or "scalars"): ds[names] for dims, names in groups.items()}


def write_csv(ds: xr.Dataset, folder: str | Path, *, force: bool = False) -> list[Path]:
    """Write ``ds`` as CSV tables into ``folder`` (see :func:`csv_tables`): one row per
    coordinate combination, one column per variable headed ``name [units]`` (a coordinate
    in a unit too: ``width [s]``; index numbers by their bare name); the dataset's
    attributes go to ``attributes.csv`` (name, value).

    The tables appear together or not at all; files of other names already in ``folder``
    stay (:func:`mtj_hil.labelled.outputs.write_folder`).

    Raises:
        StoreError: ``folder`` holds files already (without ``force``) or cannot be written.
    """
    named = _flag_names(ds)

    def fill(stage: Path) -> list[str]:
        names = []
        for name, table in csv_tables(named).items():
            frame = table.to_dataframe() if table.dims else table.to_pandas().to_frame().T
            frame = frame.rename(columns=lambda c: _header(named, str(c)))
            frame.index.names = [_header(named, str(n)) for n in frame.index.names]
            frame.to_csv(stage / f"{name}.csv", index=bool(table.dims))
            names.append(f"{name}.csv")
        with open(stage / "attributes.csv", "w", newline="", encoding="utf-8") as fh:
            writer = csv.writer(fh)
            writer.writerow(["attribute", "value"])
            for key, value in ds.attrs.items():
                writer.writerow([key, value])
        return [*names, "attributes.csv"]

    return write_folder(Path(folder), fill, force=force)


def _flag_names(ds: xr.Dataset) -> xr.Dataset:
    """``ds`` with every CF flag variable (defect codes, fit status) as its flag names."""
    out = ds.copy()
    for name, v in ds.data_vars.items():
        meanings = v.attrs.get("flag_meanings")
        if meanings is None:
            continue
        lookup = dict(
            zip(np.asarray(v.attrs["flag_values"]).tolist(), meanings.split(), strict=True)
        )
        values = np.asarray(v.values)
        valid = np.isfinite(values) if values.dtype.kind == "f" else np.ones(values.shape, bool)
        codes, where = np.unique(values[valid].astype(np.int64), return_inverse=True)
        text = np.full(values.shape, "", dtype=object)  # empty where a die lacks the array
        text[valid] = np.array([lookup.get(int(c), str(int(c))) for c in codes], object)[where]
        out[name] = (v.dims, text, {**v.attrs, "units": ""})
    return out


def _header(ds: xr.Dataset, name: str) -> str:
    """``name [units]`` for a variable and for a coordinate in a unit (a pulse width in s, an
    amplitude in V); an index column (array, row, cycle: units ``1``) and a label column
    (state) by its name alone."""
    units = ds[name].attrs.get("units") if name in ds.variables else None
    if name in ds.dims and units in (None, "", "1"):
        return name
    return f"{name} [{units}]" if units else name
