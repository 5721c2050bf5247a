"""The NeXus plots and analysis of each shipped run kind (the kinds' ``nexus`` pieces, see
:mod:`mtj_hil.runs.store.nexus`).

Each builder takes the open run file, (re)writes its ``NXdata`` groups and ``NXprocess``
under ``/entry`` and returns the name of the default plot (None when there is nothing to
plot yet).

- characterisation: ``die_map`` (default; the defect codes of every array tiled into one
  image, which NeXus viewers draw: they plot one or two dimensions), ``defect_map`` (defect
  code per device against array, row, column), ``conductance_p`` / ``conductance_ap`` (mean conductance per device, S) and the
  ``classification`` process (thresholds in S, the fitted model, warnings); an unfinished
  run shows ``conductance`` (reads after the P writes so far).
- switching: ``wer_AP`` (default) / ``wer_P`` (die write-error rate against pulse width and
  amplitude, with its 90 % band as auxiliary signals), ``vc_AP`` / ``vc_P`` (critical
  voltage per device, V) and the ``fit`` process (tau0, target WER, recommendation, read
  disturb); an unfinished run shows ``switching_counts``.

The view of an unfinished run is removed when the run is finished (see
:func:`mtj_hil.runs.store.nexus.finish`).
"""

from __future__ import annotations

import json
import re

import h5py
import numpy as np

from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.protocols.mosaic import mosaic
from mtj_hil.runs.store.nexus import ENTRY, PROGRAM, field, note, plot, subgroup


def _layout(h5: h5py.File) -> tuple[int, int]:
    layout = json.loads(h5.attrs.get("layout", "{}") or "{}")
    return int(layout.get("rows", 0)), int(layout.get("cols", 0))


INDEX = "1"
"""NeXus ``units`` of an index axis (row, column, cycle ... numbers) and of a defect code: a
count or a label number, dimensionless (UDUNITS ``1``), as the run file's own ``unit`` of
``/defects/codes`` and the labelled datasets' index coordinates say."""


def _cells(h5: h5py.File) -> list[tuple[str, np.ndarray, str]]:
    rows, cols = _layout(h5)
    return [("row", np.arange(rows), INDEX), ("column", np.arange(cols), INDEX)]


def _process(entry: h5py.Group, name: str, program: str, h5: h5py.File) -> h5py.Group:
    proc = subgroup(entry, name, "NXprocess", fresh=True)
    field(proc, "program", program)
    field(proc, "sequence_index", 1)
    version = field(proc, "version", str(h5.attrs.get("package_version", "")))
    version.attrs["program"] = PROGRAM
    field(proc, "date", str(h5.attrs.get("ended", "")))
    return proc


def characterization_plot(h5: h5py.File) -> str | None:
    """Plots and classification process of a characterisation run (see module docstring)."""
    entry = h5[ENTRY]
    if "defects/codes" in h5:
        codes = h5["defects/codes"]
        codes.attrs["flag_values"] = np.array([c.value for c in DefectCode], np.uint8)
        codes.attrs["flag_meanings"] = " ".join(c.name for c in DefectCode)
        axes = [("array", h5["defects/arrays"], ""), *_cells(h5)]
        plot(entry, "defect_map", codes, axes, title="defect code per device")
        _die_map(entry, codes)
        for state in ("p", "ap"):
            plot(
                entry,
                f"conductance_{state}",
                h5[f"defects/g_{state}"],
                axes,
                title=f"mean conductance after {state.upper()} writes",
            )
        proc = _process(entry, "classification", "mtj-hil defect classifier", h5)
        grp = h5["defects"]
        params = subgroup(proc, "thresholds", "NXparameters")
        for key, value in grp.attrs.items():
            if key.startswith("threshold_") and key != "threshold_units":
                name = key.removeprefix("threshold_")
                numeric = isinstance(value, int | float | np.number)
                conductance = re.search(r"(^|_)g(_|$)", name) is not None  # short_g, median_g_p
                units = ("S" if conductance else INDEX) if numeric else None  # sigma_ln_*: 1
                field(params, name, value, units)
        field(proc, "defects_version", int(grp.attrs.get("defects_version", 1)))
        for key in ("model", "warnings", "overlap", "remeasured"):
            if key in grp.attrs:
                note(proc, key, json.loads(grp.attrs[key]))
        return "die_map"
    if "characterization/g_after_p" in h5:
        g = h5["characterization/g_after_p"]
        axes = [
            ("array", h5["characterization/array_index"], ""),
            ("cycle", np.arange(g.shape[1]), INDEX),
            ("read", np.arange(g.shape[2]), INDEX),
            *_cells(h5),
        ]
        plot(entry, "conductance", g, axes, title="conductance after each P write (so far)")
        return "conductance"
    return None


def _die_map(entry: h5py.Group, codes: h5py.Dataset) -> None:
    """``die_map``: the codes ``(arrays, rows, cols)`` tiled into one 2-D image, arrays in
    plan order, ``ceil(sqrt(n))`` to a tile row with a one-cell gap (NaN) between them."""
    values = codes[()].astype(float)
    per_row = max(1, int(np.ceil(np.sqrt(values.shape[0]))))
    image = mosaic(values, per_row)
    grp = subgroup(entry, "die_map", "NXdata", fresh=True)
    ds = field(grp, "codes", image, INDEX)
    ds.attrs["flag_values"] = np.array([c.value for c in DefectCode], float)
    ds.attrs["flag_meanings"] = " ".join(c.name for c in DefectCode)
    ds.attrs["long_name"] = (
        f"defect code per device ({', '.join(f'{c.value} {c.name}' for c in DefectCode)}); "
        f"arrays tiled {per_row} to a row in plan order, NaN between them"
    )
    for index, (axis, size) in enumerate((("y", image.shape[0]), ("x", image.shape[1]))):
        axis_field = field(grp, axis, np.arange(size), INDEX)
        axis_field.attrs["long_name"] = f"{axis} (cells, with gaps)"
        grp.attrs[f"{axis}_indices"] = index
    grp.attrs["signal"] = "codes"
    grp.attrs["axes"] = ["y", "x"]
    field(grp, "title", f"defect map of the die ({values.shape[0]} arrays)")


def switching_plot(h5: h5py.File) -> str | None:
    """Plots and fit process of a switching run (see module docstring)."""
    entry = h5[ENTRY]
    if "switching_fit" in h5:
        fit = h5["switching_fit"]
        for direction in ("AP", "P"):
            g = fit[direction]
            plot(
                entry,
                f"wer_{direction}",
                g["wer_median"],
                [("width", g["wer_widths"], "s"), ("amplitude", g["wer_amplitudes"], "V")],
                title=f"die write-error rate towards {direction} (median, 90 % band)",
                auxiliary=[g["wer_low"], g["wer_high"]],
            )
            plot(
                entry,
                f"vc_{direction}",
                g["vc"],
                [("array", fit["arrays"], ""), *_cells(h5)],
                title=f"critical voltage Vc0 towards {direction} per device",
            )
        proc = _process(entry, "fit", "mtj-hil switching fit (thermal activation)", h5)
        params = subgroup(proc, "parameters", "NXparameters")
        field(params, "tau0", float(fit.attrs["tau0"]), "s")
        plan = json.loads(h5.attrs.get("plan", "{}") or "{}")
        if "target_wer" in plan:
            field(params, "target_wer", float(plan["target_wer"]), INDEX)
        for key in ("recommendation", "disturb"):
            note(proc, key, json.loads(fit.attrs[key]))
        for direction in ("AP", "P"):
            g = fit[direction]
            note(proc, f"population_{direction}", json.loads(g.attrs["population"]))
            note(proc, f"floor_{direction}", json.loads(g.attrs["floor"]))
        return "wer_AP"
    if "switching/switched" in h5:
        switched = h5["switching/switched"]
        axes = [("point", np.arange(switched.shape[0]), INDEX), *_cells(h5)]
        plot(
            entry,
            "switching_counts",
            switched,
            axes,
            title="trials in which each device switched, per grid point (so far)",
            auxiliary=[h5["switching/trials"]],
        )
        return "switching_counts"
    return None
