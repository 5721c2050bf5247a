"""A characterisation run as an ``xarray.Dataset``, and its defect table as a DataFrame.

Dimensions: ``array`` (array index on the die), ``row``, ``column``, ``state`` (``P``,
``AP``: the state written before the read), ``cycle``, ``read``, ``defect_class`` (the
classes of the posterior) and, for a targeted re-measurement, ``remeasure_array`` and
``remeasure_cycle``. Variables (units after the colon):

- ``conductance`` (array, state, cycle, read, row, column): S, every read;
- ``write_failed`` (array, state, cycle, row, column): cells write-verify gave up on;
- ``conductance_bias`` (as ``conductance``): S, the reads at the bias read voltage;
- ``defect``, ``best_guess`` (array, row, column): defect code (CF flags);
- ``conductance_mean``, ``resistance`` (array, state, row, column): S and ohm
  (``resistance = 1 / conductance_mean``);
- ``confidence`` (array, row, column), ``posterior`` (..., defect_class): 1;
- ``bias_signature`` (array, state, row, column): 1, ``ln(G(V_high) / G(V_low))``;
- ``remeasure_selected``, ``remeasure_conductance`` (and ``remeasure_conductance_bias``).

An unfinished run has the reads so far and no classification.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import xarray as xr

from mtj_hil.errors import StoreError
from mtj_hil.labelled.cf import clean_attrs, coord, flags, run_attrs, var
from mtj_hil.labelled.source import group_attrs, has, open_run, provenance, read
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.runs.store.runfile import RunFile

KIND = "characterization"
STATES = ("P", "AP")
CLASSES = ("GOOD", "SHORT", "OPEN", "STUCK_P", "STUCK_AP")
"""The classes of the ``posterior`` (its last axis)."""
DEFECT_FLAGS = flags([c.value for c in DefectCode], [c.name for c in DefectCode])


def characterization_dataset(path: str | Path) -> xr.Dataset:
    """The characterisation run at ``path`` as a labelled dataset (module docstring).

    Raises:
        StoreError: not a characterisation run file, or a dataset that cannot be read.
    """
    with open_run(path, KIND) as run:
        return _dataset(run)


def _dataset(run: RunFile) -> xr.Dataset:
    attrs = provenance(run)
    layout = json.loads(attrs.get("layout") or "{}")
    done = (
        [int(a) for a in read(run, "characterization/array_index")]
        if has(run, "characterization/array_index")
        else []
    )
    classified = has(run, "defects/codes")
    arrays = [int(a) for a in read(run, "defects/arrays")] if classified else list(done)
    rows, cols = int(layout.get("rows", 0)), int(layout.get("cols", 0))
    coords: dict[str, Any] = {
        "array": coord(arrays, "array", "array index on the die"),
        "row": coord(np.arange(rows), "row", "row (input line) of the cell"),
        "column": coord(np.arange(cols), "column", "column (output line) of the cell"),
        "state": coord(list(STATES), "state", "state written before the read"),
    }
    data: dict[str, xr.Variable] = {}
    order = [done.index(a) for a in arrays if a in done]
    if order and len(order) == len(arrays):
        _streams(run, order, coords, data)
    if classified:
        _defects(run, data, coords)
    if has(run, "remeasure/arrays"):
        _remeasure(run, data, coords)
    plan = attrs.get("plan") or {}
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = run_attrs(attrs, f"characterisation of die {attrs.get('die_id', '')}")
    ds.attrs["read_voltage"] = float(plan.get("read_voltage") or 0.0)
    ds.attrs["read_voltage_units"] = "V"
    ds.attrs["bias_read_voltage"] = float(plan.get("bias_read_voltage") or 0.0)
    ds.attrs["bias_read_voltage_units"] = "V"
    ds.attrs["arrays_done"] = json.dumps(done)
    if classified:
        ds.attrs.update(clean_attrs(group_attrs(run, "defects")))
        ds.attrs.update(_threshold_units(ds.attrs))
    return ds


def _threshold_units(attrs: dict[str, Any]) -> dict[str, str]:
    """``<name>_units`` of each numeric ``threshold_*`` attribute, as ``read_voltage_units``:
    the run file's one ``threshold_units`` (S) is the conductances' unit, while the spreads
    ``threshold_sigma_ln_p`` / ``_ap`` (of ln G) are dimensionless."""
    return {
        f"{key}_units": "1" if key.startswith("threshold_sigma_") else "S"
        for key, value in attrs.items()
        if key.startswith("threshold_") and isinstance(value, int | float)
    }


def _streams(
    run: RunFile, order: list[int], coords: dict[str, Any], data: dict[str, xr.Variable]
) -> None:
    g = np.stack([read(run, f"characterization/g_after_{s.lower()}")[order] for s in STATES], 1)
    coords["cycle"] = coord(np.arange(g.shape[2]), "cycle", "write-read cycle")
    coords["read"] = coord(np.arange(g.shape[3]), "read", "read within a cycle")
    dims = ("array", "state", "cycle", "read", "row", "column")
    data["conductance"] = var(g, dims, "S", "conductance read after each write")
    residual = np.stack(
        [read(run, f"characterization/residual_{s.lower()}")[order] for s in STATES], 1
    )
    data["write_failed"] = var(
        residual,
        ("array", "state", "cycle", "row", "column"),
        "1",
        "cell the write-verify gave up on (state not reached)",
    )
    if _pair(run, "characterization/g_high_p", "characterization/g_high_ap"):
        high = [read(run, f"characterization/g_high_{s.lower()}") for s in STATES]
        if high[0].shape != high[1].shape:
            raise StoreError(
                f"{run.path}: datasets 'characterization/g_high_p' and 'g_high_ap' differ in "
                f"shape ({high[0].shape} and {high[1].shape}; a damaged run file?)"
            )
        if all(h.shape[0] > max(order) for h in high):
            data["conductance_bias"] = var(
                np.stack([h[order] for h in high], 1),
                dims,
                "S",
                "conductance read at the bias read voltage after each write",
            )
    _array_times(run, order, data)


def _array_times(run: RunFile, order: list[int], data: dict[str, xr.Variable]) -> None:
    """Start and end (s) of each array's measurement, on the clock the run names (what
    ``fit-profile`` reads drift from); absent in files written before it was recorded."""
    if not has(run, "characterization/array_time"):
        return
    times = read(run, "characterization/array_time")
    if times.ndim != 2 or times.shape[1] != 2 or times.shape[0] <= max(order):
        return  # the structure checks name a malformed one; the export goes without it
    attrs = group_attrs(run, "characterization")
    clock = attrs.get("clock_source", "")
    for i, edge in enumerate(("start", "end")):
        data[f"array_{edge}"] = var(
            times[order, i],
            ("array",),
            "s",
            f"{edge} of the array's measurement, s since its session of the run started "
            f"(clock: {clock or 'not recorded'}; the session is array_session)",
        )
    try:  # positions in the stored order where each session (start, then each resume) began
        starts = np.asarray(json.loads(attrs.get("clock_sessions") or "[0]"), dtype=np.int64)
    except (TypeError, ValueError):
        starts = np.zeros(1, np.int64)
    session = np.searchsorted(starts, np.arange(times.shape[0]), side="right") - 1
    data["array_session"] = var(
        np.maximum(session, 0)[order].astype(np.int32),
        ("array",),
        "1",
        "session of the run the array was measured in (0: the first; each --resume starts "
        "another, whose clock starts again at 0 s)",
    )


def _defects(run: RunFile, data: dict[str, xr.Variable], coords: dict[str, Any]) -> None:
    cells = ("array", "row", "column")
    per_state = ("array", "state", "row", "column")
    data["defect"] = var(
        read(run, "defects/codes"), cells, "1", "defect class of the device", **DEFECT_FLAGS
    )
    g = np.stack([read(run, "defects/g_p"), read(run, "defects/g_ap")], 1)
    data["conductance_mean"] = var(g, per_state, "S", "mean conductance after the write")
    with np.errstate(divide="ignore", invalid="ignore"):
        # an open's mean conductance sits at the noise floor, at or below 0: no resistance
        resistance = np.where(g > 0, 1.0 / g, np.nan)
    data["resistance"] = var(
        resistance,
        per_state,
        "ohm",
        "resistance (1 / mean conductance; NaN where that is not above 0)",
    )
    if has(run, "defects/resistive_open"):
        data["resistive_open"] = var(
            read(run, "defects/resistive_open").astype(np.uint8),
            cells,
            "1",
            "1 for an OPEN device that still conducts (a resistive open), else 0",
            **flags((0, 1), ("not_resistive", "resistive_open")),
        )
    if _pair(run, "defects/confidence", "defects/best_guess"):
        data["confidence"] = var(
            read(run, "defects/confidence"),
            cells,
            "1",
            "posterior probability of the reported class (of the best guess if UNCERTAIN)",
        )
        data["best_guess"] = var(
            read(run, "defects/best_guess"),
            cells,
            "1",
            "most probable class, also for UNCERTAIN devices",
            **DEFECT_FLAGS,
        )
    if has(run, "defects/posterior"):
        coords["defect_class"] = coord(list(CLASSES), "defect_class", "class of the posterior")
        data["posterior"] = var(
            read(run, "defects/posterior"),
            (*cells, "defect_class"),
            "1",
            "posterior probability of each class",
        )
    if _pair(run, "defects/bias_p", "defects/bias_ap"):
        bias = np.stack([read(run, "defects/bias_p"), read(run, "defects/bias_ap")], 1)
        data["bias_signature"] = var(
            bias, per_state, "1", "bias signature ln(G(V_high) / G(V_low)), mean over cycles"
        )


def _pair(run: RunFile, first: str, second: str) -> bool:
    """Whether ``run`` holds both datasets of a pair written together (False: neither, an
    older or shorter run).

    Raises:
        StoreError: only one of them (a damaged file: the other was read as an older run's
            absence and its variable silently left out)."""
    found = [has(run, name) for name in (first, second)]
    if found[0] != found[1]:
        missing, there = (second, first) if found[0] else (first, second)
        raise StoreError(
            f"{run.path}: dataset {missing!r} is missing though {there!r}, written with it, is "
            "there (a damaged run file?)"
        )
    return found[0]


def _remeasure(run: RunFile, data: dict[str, xr.Variable], coords: dict[str, Any]) -> None:
    arrays = read(run, "remeasure/arrays")
    coords["remeasure_array"] = coord(arrays, "remeasure_array", "array re-measured")
    data["remeasure_selected"] = var(
        read(run, "remeasure/selected"),
        ("remeasure_array", "row", "column"),
        "1",
        "cell re-measured (uncertain after the first classification)",
    )
    dims = ("remeasure_array", "state", "remeasure_cycle", "read", "row", "column")
    for name, source, text in (
        ("remeasure_conductance", "g_after", "conductance read in the extra cycles"),
        ("remeasure_conductance_bias", "g_high", "bias-voltage reads in the extra cycles"),
    ):
        if has(run, f"remeasure/{source}_p") and has(run, f"remeasure/{source}_ap"):
            g = np.stack([read(run, f"remeasure/{source}_{s.lower()}") for s in STATES], 1)
            coords.setdefault(
                "remeasure_cycle",
                coord(np.arange(g.shape[2]), "remeasure_cycle", "extra write-read cycle"),
            )
            data[name] = var(g, dims, "S", text)


def defect_table(data: xr.Dataset | str | Path, *, include_good: bool = False) -> pd.DataFrame:
    """One row per device (only the defective and uncertain ones unless ``include_good``):
    ``array``, ``row``, ``column``, ``defect`` (class name), ``confidence``, ``best_guess``,
    ``r_p``, ``r_ap`` (ohm), ``g_p``, ``g_ap`` (S) and the bias signatures where measured.

    Raises:
        StoreError: a path that is not a characterisation run file, or one whose data
            ``show`` refuses (checksums that fail, a dataset gone).
        ValueError: the run is not classified yet.
    """
    if not isinstance(data, xr.Dataset):
        from mtj_hil.labelled.load import check_intact  # (it finds this module's builder)

        check_intact(data)
    ds = data if isinstance(data, xr.Dataset) else characterization_dataset(data)
    if "defect" not in ds:
        raise ValueError("this characterisation is not classified yet: finish the run first")
    names = np.array([c.name for c in DefectCode])
    columns: dict[str, xr.DataArray] = {
        "defect": ds.defect,
        "r_p": ds.resistance.sel(state="P", drop=True),
        "r_ap": ds.resistance.sel(state="AP", drop=True),
        "g_p": ds.conductance_mean.sel(state="P", drop=True),
        "g_ap": ds.conductance_mean.sel(state="AP", drop=True),
    }
    for name in ("confidence", "best_guess"):
        if name in ds:
            columns[name] = ds[name]
    if "bias_signature" in ds:
        columns["bias_p"] = ds.bias_signature.sel(state="P", drop=True)
        columns["bias_ap"] = ds.bias_signature.sel(state="AP", drop=True)
    table = xr.Dataset(columns).to_dataframe().reset_index()
    table = table[[c for c in ("array", "row", "column", *columns) if c in table]]
    if not include_good:
        table = table[table["defect"] != DefectCode.GOOD.value]
    table["defect"] = names[table["defect"].to_numpy(int)]
    if "best_guess" in table:
        table["best_guess"] = names[table["best_guess"].to_numpy(int)]
    return table.reset_index(drop=True)
