"""A switching run as an ``xarray.Dataset``.

Dimensions: ``array``, ``row``, ``column``, ``direction`` (``AP``, ``P``: the state the
pulse writes), ``width`` and ``amplitude`` (every pulse width and amplitude of the run's
grid), ``state`` (start state of the read-disturb reads), ``wer_width`` and
``wer_amplitude`` (the grid of the die's write-error-rate estimate), ``loop_device`` and
``loop_step`` (pulsed R-V loops). Variables (units after the colon):

- ``trials``, ``switched`` (array, direction, width, amplitude, row, column): counts
  (0 trials where the adaptive sweep did not go); ``p_switch``: their ratio (NaN there);
- ``floor_trials``, ``floor_switched`` (array, direction, width, row, column) and
  ``floor_amplitude`` (array, direction, width): V, the points set aside for the
  write-error floor;
- ``disturb_flips``, ``disturb_valid`` (array, state, row, column);
- ``loop_array``, ``loop_row``, ``loop_column`` (loop_device), ``loop_conductance``
  (loop_device, loop_step): S, ``loop_voltage`` (loop_step): V;
- fits (array, direction, row, column): ``vc``, ``vc_sd``: V; ``delta``, ``delta_sd``: 1;
  ``fit_status`` (CF flags); ``fit_var_a``, ``fit_var_b``, ``fit_cov_ab`` (the fit's covariance);
- ``wer_median``, ``wer_low``, ``wer_high`` (direction, wer_width, wer_amplitude): 1;
- how each array's trials read states (its decision rule, see
  :mod:`mtj_hil.protocols.switching.decision`): ``state_reads`` (array, flags: ``no_rule``
  precision reads throughout,
  ``bound`` decisions within the misread bound, ``precision_margin`` decisions holding the
  cells to the precision margin, ``precision_reads`` no integration served),
  ``state_read_integration`` (array): s, NaN for precision reads;
  ``state_read_misread`` (array): 1, the worst kept cell's misread probability per read;
  ``state_read_per_device`` (array): 1, each device judged by its own threshold;
  ``state_read_left_out`` (array, row, column): 1, cells the rule left out of the trials.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import xarray as xr

from mtj_hil.labelled.cf import clean_attrs, coord, flags, run_attrs, var
from mtj_hil.labelled.source import group_attrs, has, open_run, provenance, read
from mtj_hil.protocols.switching.fit import STATUS_NAMES
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.runs.store.switching import decision_record

KIND = "switching"
DIRECTIONS = ("AP", "P")
"""Pulse directions in the order of the run file's ``point_direction`` codes (0 = AP)."""
STATES = ("P", "AP")
"""Start states of the read-disturb reads, in the run file's order."""
STATE_READS = ("no rule", "bound", "precision margin", "precision reads")
"""Flag meanings of ``state_reads`` (codes 0..3)."""


def switching_dataset(path: str | Path) -> xr.Dataset:
    """The switching run at ``path`` as a labelled dataset (module docstring).

    Raises:
        StoreError: not a switching run file, or a dataset that cannot be read.
    """
    with open_run(path, KIND) as run:
        return _dataset(run)


def _dataset(run: RunFile) -> xr.Dataset:
    attrs = provenance(run)
    layout = json.loads(attrs.get("layout") or "{}")
    g = "switching"
    done = [int(a) for a in read(run, f"{g}/array_index")] if has(run, f"{g}/array_index") else []
    rows, cols = int(layout.get("rows", 0)), int(layout.get("cols", 0))
    coords: dict[str, Any] = {
        "array": coord(done, "array", "array index on the die"),
        "row": coord(np.arange(rows), "row", "row (input line) of the cell"),
        "column": coord(np.arange(cols), "column", "column (output line) of the cell"),
        "direction": coord(list(DIRECTIONS), "direction", "state the pulse writes"),
        "state": coord(list(STATES), "state", "start state of the read-disturb reads"),
    }
    data: dict[str, xr.Variable] = {}
    if done:
        _grid(run, done, (rows, cols), coords, data)
        _loops(run, coords, data)
        _state_reads(run, done, (rows, cols), data)
    if has(run, "switching_fit"):
        _fits(run, done, coords, data)
    ds = xr.Dataset(data, coords=coords)
    ds.attrs = run_attrs(attrs, f"switching of die {attrs.get('die_id', '')}")
    ds.attrs["arrays_done"] = json.dumps(done)
    if has(run, "switching_fit"):
        ds.attrs.update(clean_attrs(group_attrs(run, "switching_fit")))
        ds.attrs["tau0_units"] = "s"
        for d in DIRECTIONS:
            for key, value in group_attrs(run, f"switching_fit/{d}").items():
                ds.attrs[f"{key}_{d}"] = value
    return ds


def _grid(
    run: RunFile,
    done: list[int],
    shape: tuple[int, int],
    coords: dict[str, Any],
    data: dict[str, xr.Variable],
) -> None:
    g = "switching"
    ends = read(run, f"{g}/points_end")[: len(done)].astype(int)
    n = int(ends[-1])
    direction = read(run, f"{g}/point_direction")[:n].astype(int)
    width = read(run, f"{g}/point_width")[:n]
    amplitude = read(run, f"{g}/point_amplitude")[:n]
    floor = read(run, f"{g}/point_floor")[:n].astype(bool)
    trials = read(run, f"{g}/trials")[:n].astype(np.uint32)
    switched = read(run, f"{g}/switched")[:n].astype(np.uint32)
    array = np.repeat(np.arange(len(done)), np.diff(np.concatenate([[0], ends])))
    widths, amps = np.unique(width), np.unique(amplitude[~floor])
    coords["width"] = coord(widths, "width", "pulse width", "s")
    coords["amplitude"] = coord(amps, "amplitude", "pulse amplitude", "V")
    wi = np.searchsorted(widths, width)
    grid = (len(done), len(DIRECTIONS), len(widths), len(amps), *shape)
    counts = {"trials": np.zeros(grid, np.uint32), "switched": np.zeros(grid, np.uint32)}
    fl = {"trials": np.zeros((*grid[:3], *shape), np.uint32)}
    fl["switched"] = np.zeros_like(fl["trials"])
    floor_amp = np.full(grid[:3], np.nan)
    grid_pts, floor_pts = ~floor, floor
    ai = np.searchsorted(amps, amplitude[grid_pts])
    idx = (array[grid_pts], direction[grid_pts], wi[grid_pts], ai)
    np.add.at(counts["trials"], idx, trials[grid_pts])
    np.add.at(counts["switched"], idx, switched[grid_pts])
    fidx = (array[floor_pts], direction[floor_pts], wi[floor_pts])
    np.add.at(fl["trials"], fidx, trials[floor_pts])
    np.add.at(fl["switched"], fidx, switched[floor_pts])
    floor_amp[fidx] = amplitude[floor_pts]
    dims = ("array", "direction", "width", "amplitude", "row", "column")
    data["trials"] = var(counts["trials"], dims, "1", "valid trials (start state verified)")
    data["switched"] = var(counts["switched"], dims, "1", "trials in which the device switched")
    with np.errstate(invalid="ignore", divide="ignore"):
        p = np.where(counts["trials"] > 0, counts["switched"] / counts["trials"], np.nan)
    data["p_switch"] = var(p, dims, "1", "switching probability (switched / trials)")
    fdims = ("array", "direction", "width", "row", "column")
    data["floor_trials"] = var(fl["trials"], fdims, "1", "trials set aside for the WER floor")
    data["floor_switched"] = var(
        fl["switched"], fdims, "1", "floor trials in which the device switched"
    )
    data["floor_amplitude"] = var(
        floor_amp, ("array", "direction", "width"), "V", "amplitude of the floor trials"
    )
    for name, text in (
        ("disturb_flips", "device flipped in the read-disturb reads"),
        ("disturb_valid", "read-disturb start state verified"),
    ):
        data[name] = var(
            read(run, f"{g}/{name}")[: len(done)], ("array", "state", "row", "column"), "1", text
        )


def _state_reads(
    run: RunFile, done: list[int], shape: tuple[int, int], data: dict[str, xr.Variable]
) -> None:
    """Each array's decision rule (``switching/decision/<array>``) as variables."""
    n = len(done)
    code = np.zeros(n, np.uint8)
    integration, misread = np.full(n, np.nan), np.full(n, np.nan)
    per_device = np.zeros(n, np.uint8)
    left_out = np.zeros((n, *shape), np.uint8)
    for i, a in enumerate(done):
        rule = decision_record(run, a)
        if not rule:
            continue
        t = rule["integration"]
        standard = rule.get("standard", "bound")
        code[i] = STATE_READS.index("precision reads" if t is None else standard)
        if t is not None:
            integration[i], misread[i] = t, rule["misread"]
        per_device[i] = rule.get("thresholds") == "per device"
        for r, c in rule.get("left_out", ()):
            left_out[i, r, c] = 1
    data["state_reads"] = var(
        code,
        ("array",),
        "1",
        "how the trials read states",
        **flags(range(len(STATE_READS)), STATE_READS),
    )
    data["state_read_integration"] = var(
        integration, ("array",), "s", "integration of the trials' decision reads (NaN: precision)"
    )
    data["state_read_misread"] = var(
        misread, ("array",), "1", "worst kept cell's misread probability per decision read"
    )
    data["state_read_per_device"] = var(
        per_device,
        ("array",),
        "1",
        "each device judged by its own threshold",
        **flags([0, 1], ["one_threshold_for_the_array", "threshold_per_device"]),
    )
    data["state_read_left_out"] = var(
        left_out,
        ("array", "row", "column"),
        "1",
        "cell left out of the trials by the rule",
        **flags([0, 1], ["in_the_trials", "left_out"]),
    )


def _loops(run: RunFile, coords: dict[str, Any], data: dict[str, xr.Variable]) -> None:
    g = "switching"
    if not has(run, f"{g}/loop_g"):
        return
    loop_g = read(run, f"{g}/loop_g")
    cells = read(run, f"{g}/loop_cells")
    voltage = read(run, f"{g}/loop_voltage")
    coords["loop_device"] = coord(np.arange(len(loop_g)), "loop_device", "R-V loop device")
    coords["loop_step"] = coord(np.arange(loop_g.shape[1]), "loop_step", "R-V loop pulse")
    data["loop_array"] = var(read(run, f"{g}/loop_array"), ("loop_device",), "1", "array")
    data["loop_row"] = var(cells[:, 0], ("loop_device",), "1", "row of the R-V loop device")
    data["loop_column"] = var(cells[:, 1], ("loop_device",), "1", "column of the device")
    data["loop_conductance"] = var(
        loop_g, ("loop_device", "loop_step"), "S", "conductance read after each loop pulse"
    )
    data["loop_voltage"] = var(
        voltage, ("loop_step",), "V", "signed pulse amplitude of each step (+ towards AP)"
    )


def _fits(
    run: RunFile, done: list[int], coords: dict[str, Any], data: dict[str, xr.Variable]
) -> None:
    f = "switching_fit"
    fit_arrays = [int(a) for a in read(run, f"{f}/arrays")]
    order = [fit_arrays.index(a) for a in done]
    dims = ("array", "direction", "row", "column")
    for name, units, text in (
        ("vc", "V", "critical voltage Vc0 (thermal-activation fit)"),
        ("vc_sd", "V", "standard uncertainty of vc"),
        ("delta", "1", "thermal stability factor Delta"),
        ("delta_sd", "1", "standard uncertainty of delta"),
    ):
        values = np.stack([read(run, f"{f}/{d}/{name}")[order] for d in DIRECTIONS], 1)
        data[name] = var(values, dims, units, text)
    status = np.stack([read(run, f"{f}/{d}/status")[order] for d in DIRECTIONS], 1)
    data["fit_status"] = var(
        status, dims, "1", "fit status", **flags(list(STATUS_NAMES), list(STATUS_NAMES.values()))
    )
    # the fit's covariance of a = -Delta (1) and b = Delta / Vc0 (1/V), as three variables
    # so each carries its own units (one (2, 2) variable can carry only one)
    cov = np.stack([read(run, f"{f}/{d}/cov")[order] for d in DIRECTIONS], 1)
    for name, (i, j), units, text in (
        ("fit_var_a", (0, 0), "1", "variance of the fit parameter a = -Delta"),
        ("fit_var_b", (1, 1), "V-2", "variance of the fit parameter b = Delta / Vc0 (1/V)"),
        ("fit_cov_ab", (0, 1), "V-1", "covariance of the fit parameters a = -Delta and b"),
    ):
        data[name] = var(cov[..., i, j], dims, units, text)
    widths = read(run, f"{f}/{DIRECTIONS[0]}/wer_widths")
    amps = read(run, f"{f}/{DIRECTIONS[0]}/wer_amplitudes")
    coords["wer_width"] = coord(widths, "wer_width", "pulse width of the WER grid", "s")
    coords["wer_amplitude"] = coord(amps, "wer_amplitude", "amplitude of the WER grid", "V")
    for key in ("median", "low", "high"):
        values = np.stack([read(run, f"{f}/{d}/wer_{key}") for d in DIRECTIONS])
        data[f"wer_{key}"] = var(
            values,
            ("direction", "wer_width", "wer_amplitude"),
            "1",
            f"die write-error rate, {key} of the 90 % band",
        )
