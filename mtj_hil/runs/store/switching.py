"""Switching runs in a run file: the sink :func:`mtj_hil.protocols.switching.procedure.measure_switching_die`
writes to, the fitted results, and the reader.

Layout under ``/switching`` (streams, appended array by array):

- ``point_direction`` (uint8 ``CellState``), ``point_width`` (s), ``point_amplitude`` (V),
  ``point_floor`` (bool), ``trials``, ``switched`` (points, rows, cols): the grid counts.
- ``disturb_flips``, ``disturb_valid`` (arrays, 2, rows, cols): read disturb from P / AP.
- ``loop_array``, ``loop_cells`` (row, col), ``loop_g`` (S): pulsed R-V loops; the signed
  step amplitudes are ``loop_voltage`` (V).
- ``decision/<array>`` (group attributes): the state-read decision rule chosen for the array
  (:mod:`mtj_hil.protocols.switching.decision`): ``integration`` (s; NaN: precision reads),
  ``sigma`` (A, read-noise upper limit), ``worst_margin`` (A), ``misread`` and ``bound``
  (probability per cell and read), ``cells``, ``measured`` (JSON: integration s -> noise A),
  ``units`` (JSON: each attribute's unit); ``left_out`` (JSON list of ``[row, col]``: cells
  the rule left out of the trials), ``why`` (JSON: left-out cells per reason), ``unserved``
  (cells no candidate integration served), ``allowed`` (most it could leave out) and
  ``thresholds`` (``die``: the die's one threshold, ``per device``: each device's own
  midpoint, a board with threshold maps) and ``standard`` (``bound``: kept cells read
  within ``bound``; ``precision margin``: no candidate served enough cells within it, kept
  cells held to the plan's precision margin of the decision read's noise); runs recorded
  before cells could be left out
  read back with none, before per-device thresholds with ``die``, before the precision
  standard with ``bound``. Absent for arrays measured
  with precision reads only (no rule was tried).
- ``array_index``, ``points_end``, ``loops_end``: arrays finished and where their rows end.
  Appended last, so an array counts only once all its rows are on disk; reopening drops
  rows past the last index (an append a killed process left half-done).

Under ``/switching_fit`` (written once every array is measured): per direction ``AP`` / ``P``
the per-device ``vc`` (V), ``vc_sd``, ``delta``, ``delta_sd``, ``status``, ``cov`` and the
WER grid; the floor, populations, recommendation and read-disturb summary as JSON attributes.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.protocols.chip import CellState
from mtj_hil.protocols.switching.analysis import (
    DirectionFit,
    Recommendation,
    SwitchingAnalysis,
    WerCurve,
)
from mtj_hil.protocols.switching.fit import STATUS_NAMES, FloorEstimate
from mtj_hil.protocols.switching.procedure import ArraySwitching
from mtj_hil.runs.store.reading import reader_errors
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.runs.store.sink import RunSink
from mtj_hil.runs.store.structure import (
    BOOL,
    DEVICES,
    FLOAT,
    FLOATS,
    INT,
    INTS,
    LIST,
    NUMBER,
    OBJECT,
    OR_NULL,
    PULSE,
    TEXT,
    Expect,
    Json,
    PlanRecord,
)

KIND = "switching"
GROUP = "switching"
FIT = "switching_fit"
_POINTS = {
    "point_direction": ("1", "target state of the point's pulse (0 = AP, 1 = P)"),
    "point_width": ("s", "pulse width of the point"),
    "point_amplitude": ("V", "pulse amplitude of the point"),
    "point_floor": ("1", "point set aside to measure the write-error floor"),
    "trials": ("1", "valid trials per device (start state verified)"),
    "switched": ("1", "trials in which the device switched"),
}
_PER_ARRAY = {
    "disturb_flips": ("1", "devices that flipped in the read-disturb reads (from P, from AP)"),
    "disturb_valid": ("1", "devices whose read-disturb start state verified (P, AP)"),
}
_LOOPS = {
    "loop_array": ("1", "array of each R-V loop device"),
    "loop_cells": ("1", "row, col of each R-V loop device"),
    "loop_g": ("S", "conductance read after each R-V loop pulse"),
}
_FIELDS = {
    "point_direction": "direction",
    "point_width": "width",
    "point_amplitude": "amplitude",
    "point_floor": "floor_point",
    "trials": "trials",
    "switched": "switched",
}
DECISION_UNITS = {
    "integration": "s",
    "sigma": "A",
    "worst_margin": "A",
    "misread": "1 (per cell and read)",
    "bound": "1 (per cell and read)",
    "cells": "1",
    "measured": "A per integration (s)",
    "left_out": "row, col",
    "why": "1 (cells per reason)",
    "unserved": "1",
    "allowed": "1",
    "thresholds": "die or per device",
    "standard": "bound or precision margin",
}
"""Units of the decision-rule attributes (stored with them as ``units``)."""
_FIT_UNITS = {
    "vc": "V",
    "vc_sd": "V",
    "delta": "1",
    "delta_sd": "1",
    "status": "1",
    # the elements of the last two axes in turn: var(a), cov(a, b), cov(b, a), var(b)
    "cov": "1, V-1, V-1, V-2",
}
_FIT_TEXT = {
    "vc": "critical voltage Vc0 per device (thermal-activation fit)",
    "vc_sd": "standard uncertainty of vc",
    "delta": "thermal stability factor Delta per device (thermal-activation fit)",
    "delta_sd": "standard uncertainty of delta",
    "status": "fit status per device: "
    + ", ".join(f"{code}={name.upper().replace(' ', '_')}" for code, name in STATUS_NAMES.items()),
    "cov": "covariance of the fit parameters (a, b) = (-Delta, Delta / Vc0) per device, the "
    "last two axes (a, b); a is dimensionless, b in 1/V, so [0, 0] is in 1, [0, 1] and "
    "[1, 0] in V-1, [1, 1] in V-2",
}
"""What each ``/switching_fit/<direction>`` dataset holds (its ``description``): a reader of
the file alone (plain h5py) learns from it what a status code means and how the
covariance's elements are laid out."""


_DEVICES = ("a", "rows", "cols")
STRUCTURE = {
    f"{GROUP}/array_index": Expect("iu", ("n",), index=True),
    f"{GROUP}/array_sha256": Expect("SO", ("*",)),
    f"{GROUP}/points_end": Expect("iu", ("n+",)),
    f"{GROUP}/loops_end": Expect("iu", ("n+",)),
    # (the point and loop streams of a file of mtj-hil 0.1 killed mid-append may differ in
    # length until it is resumed: their lengths are not tied to each other here)
    f"{GROUP}/point_direction": Expect("iu", ("*",), bounds=(0, 1)),
    f"{GROUP}/point_width": Expect("f", ("*",), unit="s"),
    f"{GROUP}/point_amplitude": Expect("f", ("*",), unit="V"),
    f"{GROUP}/point_floor": Expect("b", ("*",)),
    **{f"{GROUP}/{n}": Expect("iu", ("*", "rows", "cols")) for n in ("trials", "switched")},
    **{f"{GROUP}/{n}": Expect("b", ("n+", 2, "rows", "cols")) for n in _PER_ARRAY},
    f"{GROUP}/loop_array": Expect("iu", ("*",), index=True),
    f"{GROUP}/loop_cells": Expect("iu", ("*", 2)),
    f"{GROUP}/loop_g": Expect("f", unit="S"),
    f"{GROUP}/loop_voltage": Expect("f", unit="V"),
    f"{FIT}/arrays": Expect("iu", ("a",), index=True),
    **{
        f"{FIT}/{d}/{n}": Expect("iu" if n == "status" else "f", _DEVICES, unit=unit)
        for d in ("AP", "P")
        for n, unit in _FIT_UNITS.items()
        if n != "cov"
    },
    **{f"{FIT}/{d}/cov": Expect("f", (*_DEVICES, 2, 2)) for d in ("AP", "P")},
    **{f"{FIT}/{d}/wer_amplitudes": Expect("f", ("wa",), unit="V") for d in ("AP", "P")},
    **{f"{FIT}/{d}/wer_widths": Expect("f", ("ww",), unit="s") for d in ("AP", "P")},
    **{
        f"{FIT}/{d}/wer_{n}": Expect("f", ("ww", "wa"))
        for d in ("AP", "P")
        for n in ("median", "low", "high")
    },
}
"""What each dataset of a switching run is (:mod:`mtj_hil.runs.store.structure`)."""
_POPULATION = ("n",) + tuple(
    f"{q}{end}" for q in ("vc", "delta") for end in ("", "_sd", "_sigma_rel", "_sigma_rel_sd")
)
_FITTED = ("n", ("vc", "vc_sd", "delta", "delta_sd"))
"""A population of devices (``n`` not 0) has its medians and their uncertainties."""
_FLOOR = ("value", "low", "high", "failures", "trials")
_DISTURB_COUNTS = ("flips", "devices", "per_read", "per_read_upper90")
ATTRIBUTES = {
    f"{FIT}@disturb": Json(
        OBJECT,
        ("reads_per_device", "voltage")
        + tuple(f"{s}.{n}" for s in ("from_p", "from_ap") for n in _DISTURB_COUNTS),
    ),
    f"{FIT}@recommendation": Json(OBJECT, ("target", "amplitude", "width", "wer", "wer_high")),
    f"{FIT}@tau0": NUMBER,
    **{f"{FIT}/{d}@floor": Json(OBJECT, _FLOOR) for d in ("AP", "P")},
    **{f"{FIT}/{d}@population": Json(OBJECT, _POPULATION, needs=_FITTED) for d in ("AP", "P")},
    **{f"{FIT}/{d}@per_array": Json(LIST, _POPULATION) for d in ("AP", "P")},
}
"""What its JSON and numeric group attributes hold."""
PLAN = PlanRecord(
    {
        "arrays": INTS,
        "amplitudes": FLOATS,
        "widths": FLOATS,
        **dict.fromkeys(("trials", "probe_trials", "verify_rounds", "disturb_reads"), INT),
        **dict.fromkeys(("floor_trials", "loop_steps", "placement_batch"), INT),
        "placement_budget": INT,
        "adaptive": BOOL,
        "skip_unresponsive": BOOL,
        "set_pulse": PULSE,
        **dict.fromkeys(("disturb_voltage", "loop_width"), FLOAT + OR_NULL),
        **dict.fromkeys(("min_active", "read_voltage", "tau0", "target_wer"), FLOAT),
        **dict.fromkeys(("decision_bound", "decision_exclude", "precision_margin"), FLOAT),
        **dict.fromkeys(("target_vc", "target_delta", "done_fraction"), FLOAT),
        "loop_devices": DEVICES,
        "placement": TEXT,
    },
    required=("arrays", "amplitudes", "widths"),
    closed=True,
)
"""What its stored plan holds (``runs.jobs.switching.plan_record``): every setting is
passed to ``SwitchingPlan``, so none other may be there."""


class SwitchingRun(RunSink):
    """A switching run file seen as a :class:`mtj_hil.protocols.switching.procedure.SwitchingSink`."""

    KIND = KIND
    GROUP = GROUP
    STRUCTURE = STRUCTURE
    ATTRIBUTES = ATTRIBUTES
    PLAN = PLAN
    REQUIRED = ("points_end", "loops_end")

    def _ends(self, name: str) -> int:
        path = f"{GROUP}/{name}"
        if path not in self.run.h5:
            return 0
        n = len(self.completed_arrays())
        return int(self.run.read(path, n - 1)) if n else 0

    def _repair(self) -> None:
        done = len(self.completed_arrays())
        for name in ("points_end", "loops_end"):
            self.run.truncate(f"{GROUP}/{name}", done)
        for name in _POINTS:
            self.run.truncate(f"{GROUP}/{name}", self._ends("points_end"))
        for name in _PER_ARRAY:
            self.run.truncate(f"{GROUP}/{name}", done)
        for name in _LOOPS:
            self.run.truncate(f"{GROUP}/{name}", self._ends("loops_end"))

    def _stored_rows(self, i: int) -> dict[str, np.ndarray]:
        return _rows(self.run, i)

    # -- SwitchingSink ---------------------------------------------------------------------

    def save_array(self, array: int, data: ArraySwitching) -> None:
        n_points = self._ends("points_end") + len(data.amplitude)
        n_loops = self._ends("loops_end") + len(data.loop_cells)
        rows: dict[str, tuple[np.ndarray, str, str]] = {}
        for name, (unit, text) in _POINTS.items():
            rows[name] = (np.asarray(getattr(data, _FIELDS[name])), unit, text)
        for name, (unit, text) in _PER_ARRAY.items():
            rows[name] = (np.asarray(getattr(data, name))[None], unit, text)
        if len(data.loop_cells):
            loops = {
                "loop_array": np.full(len(data.loop_cells), array, np.int32),
                "loop_cells": data.loop_cells.astype(np.int32),
                "loop_g": np.asarray(data.loop_g),
            }
            for name, (unit, text) in _LOOPS.items():
                rows[name] = (loops[name], unit, text)
            self.run.write(
                f"{GROUP}/loop_voltage",
                data.loop_voltage,
                "V",
                "signed pulse amplitude of each R-V loop step (+ towards AP)",
            )
        if data.decision:
            self.run.set_attrs(f"{GROUP}/decision/{array}", **_decision_attrs(data.decision))
        rows["points_end"] = (np.array([n_points], np.int64), "1", "grid rows after each array")
        rows["loops_end"] = (np.array([n_loops], np.int64), "1", "loop rows after each array")
        self._commit_array(array, rows)

    def load_arrays(self, arrays: Iterable[int]) -> dict[int, ArraySwitching]:
        return _load_arrays(self.run, arrays)

    def save_analysis(self, analysis: SwitchingAnalysis) -> None:
        """Write the fits of a finished run."""
        for name, fit in analysis.directions.items():
            base = f"{FIT}/{name}"
            for key, unit in _FIT_UNITS.items():
                self.run.write(f"{base}/{key}", getattr(fit, key), unit, _FIT_TEXT[key])
                self.run.set_attrs(
                    base,
                    floor=json.dumps(asdict(fit.floor)),
                    per_array=json.dumps(fit.per_array),
                    population=json.dumps(fit.population),
                )
            curve = analysis.wer[name]
            self.run.write(f"{base}/wer_amplitudes", curve.amplitudes, "V", "WER grid amplitudes")
            self.run.write(f"{base}/wer_widths", curve.widths, "s", "WER grid widths")
            for key in ("median", "low", "high"):
                self.run.write(
                    f"{base}/wer_{key}", getattr(curve, key), "1", f"die WER, {key} (90 % band)"
                )
        self.run.write(f"{FIT}/arrays", np.asarray(analysis.arrays, np.int32), "1", "arrays")
        self.run.set_attrs(
            FIT,
            tau0=analysis.tau0,
            recommendation=json.dumps(asdict(analysis.recommendation)),
            disturb=json.dumps(analysis.disturb),
        )
        self.run.flush()


def _decision_attrs(rule: dict[str, Any]) -> dict[str, Any]:
    """The decision rule of an array (``asdict`` of a ``DecisionRule``) as HDF5 attributes."""
    t = rule.get("integration")
    return {
        "integration": float("nan") if t is None else float(t),
        "sigma": float(rule["sigma"]),
        "worst_margin": float(rule["worst_margin"]),
        "misread": float(rule["misread"]),
        "bound": float(rule["bound"]),
        "cells": int(rule["cells"]),
        "measured": json.dumps({repr(float(k)): float(v) for k, v in rule["measured"].items()}),
        "left_out": json.dumps([[int(r), int(c)] for r, c in rule.get("left_out", ())]),
        "why": json.dumps({str(k): int(v) for k, v in rule.get("why", {}).items()}),
        "unserved": int(rule.get("unserved", 0)),
        "allowed": int(rule.get("allowed", 0)),
        "thresholds": str(rule.get("thresholds", "die")),
        "standard": str(rule.get("standard", "bound")),
        "units": json.dumps(DECISION_UNITS),
    }


def decision_record(run: RunFile, array: int) -> dict[str, Any]:
    """The decision rule stored for ``array`` (as ``ArraySwitching.decision``), or ``{}``."""
    grp = run.h5.get(f"{GROUP}/decision/{array}")
    if grp is None:
        return {}
    a = grp.attrs
    t = float(a["integration"])
    return {
        "integration": None if np.isnan(t) else t,
        "sigma": float(a["sigma"]),
        "worst_margin": float(a["worst_margin"]),
        "misread": float(a["misread"]),
        "bound": float(a["bound"]),
        "cells": int(a["cells"]),
        "measured": {float(k): float(v) for k, v in json.loads(a["measured"]).items()},
        "left_out": tuple((int(r), int(c)) for r, c in json.loads(a.get("left_out", "[]"))),
        "why": {str(k): int(v) for k, v in json.loads(a.get("why", "{}")).items()},
        "unserved": int(a.get("unserved", 0)),
        "allowed": int(a.get("allowed", 0)),
        "thresholds": str(a.get("thresholds", "die")),
        "standard": str(a.get("standard", "bound")),
    }


def _bounds(run: RunFile, i: int) -> tuple[int, int, int, int]:
    """Grid rows ``p0:p1`` and loop rows ``l0:l1`` of the ``i``-th finished array."""
    p1 = int(run.read(f"{GROUP}/points_end", i))
    l1 = int(run.read(f"{GROUP}/loops_end", i))
    p0 = int(run.read(f"{GROUP}/points_end", i - 1)) if i else 0
    l0 = int(run.read(f"{GROUP}/loops_end", i - 1)) if i else 0
    return p0, p1, l0, l1


def _rows(run: RunFile, i: int) -> dict[str, np.ndarray]:
    """The rows of the ``i``-th finished array, as :meth:`SwitchingRun.save_array` appended them."""
    p0, p1, l0, l1 = _bounds(run, i)
    out = {n: run.read(f"{GROUP}/{n}", slice(p0, p1)) for n in _POINTS}
    out |= {n: run.read(f"{GROUP}/{n}", slice(i, i + 1)) for n in _PER_ARRAY}
    if l1 > l0:
        out |= {n: run.read(f"{GROUP}/{n}", slice(l0, l1)) for n in _LOOPS}
    for n in ("points_end", "loops_end"):
        out[n] = run.read(f"{GROUP}/{n}", slice(i, i + 1))
    return out


def _load_arrays(run: RunFile, arrays: Iterable[int]) -> dict[int, ArraySwitching]:
    sink = SwitchingRun(run)
    order = {a: i for i, a in enumerate(sink.completed_arrays())}
    out = {}
    with reader_errors(run.path):
        for a in arrays:
            if a not in order:
                raise StoreError(f"{run.path} holds no switching data for array {a}")
            i = order[a]
            sink.verified(a, i)
            rows = _rows(run, i)
            fields = {_FIELDS[n]: rows[n] for n in _POINTS}
            extra = {n: rows[n][0] for n in _PER_ARRAY}
            loops: dict[str, Any] = {}
            if "loop_g" in rows:
                loops = {
                    "loop_cells": rows["loop_cells"],
                    "loop_g": rows["loop_g"],
                    "loop_voltage": run.read(f"{GROUP}/loop_voltage"),
                }
            out[a] = ArraySwitching(**fields, **extra, **loops, decision=decision_record(run, a))
    return out


@dataclass
class Switching:
    """A switching run read back from a file."""

    path: Path
    attrs: dict[str, Any]
    plan: dict[str, Any]
    layout: dict[str, Any]
    arrays_done: list[int]
    data: dict[int, ArraySwitching]
    analysis: SwitchingAnalysis | None

    @property
    def complete(self) -> bool:
        return self.analysis is not None


def load_switching(path: str | Path) -> Switching:
    """Read a switching run file (data of every finished array and, if done, its fits).

    Raises:
        StoreError: not an mtj-hil switching run file, or damaged or incomplete (naming the
            file and what could not be read).
    """
    with RunFile.open(path, "r", kind=KIND) as run, reader_errors(Path(path)):
        h5 = run.h5
        sink = SwitchingRun(run)
        sink.check_arrays_whole()
        done = sink.completed_arrays()
        data = _load_arrays(run, done)
        analysis = _load_analysis(h5) if FIT in h5 else None
        return Switching(
            path=Path(path),
            attrs=run.attrs,
            plan=json.loads(h5.attrs["plan"]),
            layout=json.loads(h5.attrs["layout"]),
            arrays_done=done,
            data=data,
            analysis=analysis,
        )


def _load_analysis(h5: Any) -> SwitchingAnalysis:
    grp = h5[FIT]
    directions, curves = {}, {}
    for state in (CellState.AP, CellState.P):
        g = grp[state.name]
        directions[state.name] = DirectionFit(
            direction=state,
            floor=FloorEstimate(**json.loads(g.attrs["floor"])),
            per_array=json.loads(g.attrs["per_array"]),
            population=json.loads(g.attrs["population"]),
            **{k: g[k][()] for k in _FIT_UNITS},
        )
        curves[state.name] = WerCurve(
            amplitudes=g["wer_amplitudes"][()],
            widths=g["wer_widths"][()],
            median=g["wer_median"][()],
            low=g["wer_low"][()],
            high=g["wer_high"][()],
        )
    return SwitchingAnalysis(
        arrays=[int(a) for a in grp["arrays"][()]],
        tau0=float(grp.attrs["tau0"]),
        directions=directions,
        wer=curves,
        recommendation=Recommendation(**json.loads(grp.attrs["recommendation"])),
        disturb=json.loads(grp.attrs["disturb"]),
    )
