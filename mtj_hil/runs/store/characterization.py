"""Characterisation runs in a run file: the sink the protocol writes to, and the reader.

Layout under ``/characterization``:

- ``array_index`` (n,): arrays finished, in the order they were measured. Appended last, so
  an array counts as finished only once all its data is on disk.
- ``g_after_p``, ``g_after_ap`` (n, cycles, reads, rows, cols), S.
- ``residual_p``, ``residual_ap`` (n, cycles, rows, cols), bool: cells write-verify gave up on.
- ``g_high_p``, ``g_high_ap`` (n, cycles, reads, rows, cols), S: only when the plan has a
  ``bias_read_voltage`` (the plan attribute records it, in V): the same reads at that voltage.
- ``array_time`` (n, 2), s: when each array's measurement started and ended, in seconds since
  its session of the run started (a resumed run starts a new session), on the clock the
  group's attribute ``clock_source`` names (the simulated die's clock, the virtual lab's
  modelled clock, or wall time); the attribute ``clock_sessions`` (JSON list) holds the
  position in ``array_index`` where each session began. Files of mtj-hil 0.1 and runs begun
  without it have none (:attr:`Characterization.array_time` is None).

Under ``/defects`` (written when every planned array is done): ``arrays``, ``codes`` (uint8
``DefectCode``), ``g_p``, ``g_ap`` (S), with the thresholds as attributes. The evidence
classifier (defects version 2) adds ``confidence`` (posterior of the reported class),
``best_guess`` (most probable class, also for UNCERTAIN devices), ``posterior`` (..., 5) and
the attributes ``model`` (the fitted model and how it was derived, JSON), ``warnings`` (JSON
list of sentences), ``overlap`` (JSON) and ``remeasured`` (JSON). Files without them (version 1)
still load; their fields read as None / empty. With a bias read voltage, ``bias_p`` and
``bias_ap`` hold each device's bias signature ``ln(G(V_high) / G(V_low))`` (unit "1") and the
model's ``bias_signature`` entry the fit of it. ``resistive_open`` (bool) marks the OPEN
devices that still conduct (the resistive sub-class of OPEN; absent in older files); the
model's ``line_offsets`` entry the sense offsets estimated per output line.

Under ``/remeasure`` (targeted re-measurement of uncertain devices): ``arrays``, ``selected``
(bool, the cells re-written), ``g_after_p``, ``g_after_ap`` (and ``g_high_p``, ``g_high_ap``
with a bias read voltage) (S, (n, cycles, reads, rows, cols)). With several rounds
(``remeasure_rounds``) the cycles of every round follow one another; ``selected`` is the
first round's cells, and in a later round's cycles a cell that round did not re-write reads
NaN (see :mod:`mtj_hil.protocols.characterize.remeasure`).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import StoreError
from mtj_hil.protocols.defects.detect import DefectCode, DefectMap, SwitchingData, Thresholds
from mtj_hil.runs.store.reading import reader_errors
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.runs.store.sink import RunSink
from mtj_hil.runs.store.structure import (
    FLOAT,
    INT,
    INTS,
    LIST,
    NUMBER,
    OBJECT,
    OR_NULL,
    PULSE,
    Expect,
    Json,
    PlanRecord,
)
from mtj_hil.runs.store.thresholds_attrs import read_thresholds

KIND = "characterization"
DEFECTS_VERSION = 2
"""Version of the ``/defects`` group: 2 adds posteriors, the fitted model and warnings."""
GROUP = "characterization"
_STREAMS = {
    "g_after_p": ("S", "conductance read after each all-P write (cycle, read, row, col)"),
    "g_after_ap": ("S", "conductance read after each all-AP write (cycle, read, row, col)"),
    "residual_p": ("1", "cells the all-P write-verify gave up on (cycle, row, col)"),
    "residual_ap": ("1", "cells the all-AP write-verify gave up on (cycle, row, col)"),
}
_BIAS_STREAMS = {
    "g_high_p": (
        "S",
        "conductance read at the plan's bias_read_voltage after each all-P write "
        "(cycle, read, row, col)",
    ),
    "g_high_ap": (
        "S",
        "conductance read at the plan's bias_read_voltage after each all-AP write "
        "(cycle, read, row, col)",
    ),
}


_TIME = "array_time"
_TIME_TEXT = (
    "start and end of each array's measurement (s since its session of the run started, "
    "on the clock the group attribute clock_source names)"
)


_READS = ("*", "cycles", "reads", "rows", "cols")
_CELLS = ("m", "rows", "cols")
STRUCTURE = {
    f"{GROUP}/array_index": Expect("iu", ("n",), index=True),
    f"{GROUP}/array_sha256": Expect("SO", ("*",)),
    **{
        f"{GROUP}/{n}": Expect("f", _READS, unit="S")
        for n in ("g_after_p", "g_after_ap", *_BIAS_STREAMS)
    },
    **{
        f"{GROUP}/{n}": Expect("b", ("*", "cycles", "rows", "cols")) for n in _STREAMS if "res" in n
    },
    f"{GROUP}/{_TIME}": Expect("f", ("*", 2), unit="s"),
    "defects/arrays": Expect("iu", ("m",), index=True),
    "defects/codes": Expect("iu", _CELLS, bounds=(0, int(max(DefectCode)))),
    "defects/best_guess": Expect("iu", _CELLS, bounds=(0, int(max(DefectCode)))),
    **{f"defects/{n}": Expect("f", _CELLS, unit="S") for n in ("g_p", "g_ap")},
    **{f"defects/{n}": Expect("f", _CELLS, unit="1") for n in ("bias_p", "bias_ap")},
    "defects/confidence": Expect("f", _CELLS, bounds=(0.0, 1.0), unit="1"),
    "defects/posterior": Expect("f", (*_CELLS, 5), bounds=(0.0, 1.0), unit="1"),
    "defects/resistive_open": Expect("b", _CELLS),
}
"""What each dataset of a characterisation run is (:mod:`mtj_hil.runs.store.structure`).
The ``remeasure/`` record is left out: a kill between its writes leaves it inconsistent by
design, and a resume measures such a record again (``replay.fits`` checks it) rather than
refusing the run."""
PLAN = PlanRecord(
    {
        "arrays": INTS,
        "cycles": INT,
        "reads": INT,
        "read_voltage": FLOAT,
        "pulse": PULSE,
        "remeasure_cycles": INT,
        "remeasure_budget": FLOAT,
        "remeasure_rounds": INT,
        "bias_read_voltage": FLOAT + OR_NULL,
    },
    required=("arrays", "cycles", "reads", "read_voltage"),
)
"""What its stored plan holds (``protocols.characterize.plan.plan_record``); other settings
are ignored by ``plan_from_record``."""
ATTRIBUTES = {
    "defects@model": Json(  # the fields show and the report read
        OBJECT,
        ("read_noise_ln", "median_g_p", "median_g_ap", "sigma_ln_p", "sigma_ln_ap")
        + ("short_median_g", "write_failure_rate")
        + tuple(
            f"bias_signature.{n}"
            for n in ("p_median", "ap_median", "short_median", "stuck_state_separation_sigma")
        ),
        needs=("median_g_p", ("read_noise_ln", "read_noise_source")),
    ),
    "defects@overlap": Json(
        OBJECT, ("stuck_state", "short_vs_p", "switch_vs_noise", "expected_wrong_calls")
    ),
    "defects@remeasured": Json(
        OBJECT,
        ("cycles", "uncertain_before", "budget", "devices", "arrays", "uncertain_after")
        + tuple(f"rounds[].{n}" for n in ("devices", "arrays", "uncertain_after")),
        needs=("devices", ("cycles", "uncertain_after")),
    ),
    "defects@warnings": Json(LIST, texts=True),
    **{
        f"defects@threshold_{n}": NUMBER
        for n in ("state_g", "short_g", "open_g", "median_g_p", "median_g_ap")
        + ("sigma_ln_p", "sigma_ln_ap")
    },
    f"{GROUP}@clock_sessions": LIST,
}
"""What its JSON and numeric group attributes hold."""


class CharacterizationRun(RunSink):
    """A characterisation run file seen as a :class:`mtj_hil.protocols.CharacterizationSink`."""

    KIND = KIND
    GROUP = GROUP
    STRUCTURE = STRUCTURE
    ATTRIBUTES = ATTRIBUTES
    PLAN = PLAN
    REQUIRED = tuple(_STREAMS)
    UNHASHED = (_TIME,)
    _clock: Callable[[], float] | None = None
    _t0 = 0.0
    _last = 0.0

    def start_clock(self, clock: Callable[[], float], source: str) -> bool:
        """Time every array saved from now on by ``clock`` (s, non-decreasing): a session of
        the run starts now (``source`` names the clock in the file). A resumed file whose
        earlier arrays carry no times stays untimed (returns False) so the times never
        misalign with the arrays."""
        done = len(self.completed_arrays())
        ds = self.run.h5.get(f"{GROUP}/{_TIME}")
        if done and (ds is None or ds.shape[0] != done):
            return False
        grp = self.run.h5.get(GROUP)
        old = grp.attrs.get("clock_sessions") if grp is not None else None
        sessions = [*(json.loads(old) if old is not None else []), done]
        # (flushed with the first array: a session that measured nothing leaves no trace)
        self.run.set_attrs(GROUP, clock_source=source, clock_sessions=json.dumps(sessions))
        self._clock, self._t0, self._last = clock, float(clock()), 0.0
        return True

    def _repair(self) -> None:
        """Drop rows of an append a killed process left half-written (after the last index)."""
        done = len(self.completed_arrays())
        for name in (*_STREAMS, *_BIAS_STREAMS, _TIME):
            self.run.truncate(f"{GROUP}/{name}", done)

    def _stored_rows(self, i: int) -> dict[str, np.ndarray]:
        out = {}
        for name in (*_STREAMS, *_BIAS_STREAMS, _TIME):
            ds = self.run.h5.get(f"{GROUP}/{name}")
            if ds is not None and ds.shape[0] > i:
                out[name] = self.run.read(f"{GROUP}/{name}", slice(i, i + 1))
        return out

    # -- CharacterizationSink --------------------------------------------------------------

    def save_array(self, array: int, data: SwitchingData) -> None:
        rows = {}
        for name, (unit, description) in {**_STREAMS, **_BIAS_STREAMS}.items():
            if getattr(data, name) is not None:
                rows[name] = (np.asarray(getattr(data, name))[None], unit, description)
        if self._clock is not None:
            now = float(self._clock()) - self._t0
            rows[_TIME] = (np.array([[self._last, now]], np.float64), "s", _TIME_TEXT)
            self._last = now
        self._commit_array(array, rows)

    def load_arrays(self, arrays: Iterable[int]) -> dict[int, SwitchingData]:
        """The stored data of ``arrays``, each checked against its checksum.

        Raises:
            StoreError: an array not stored, or whose data do not verify.
        """
        order = {a: i for i, a in enumerate(self.completed_arrays())}
        out = {}
        with reader_errors(self.run.path):
            sums = self.checksums()
            for a in arrays:
                if a not in order:
                    raise StoreError(f"{self.run.path} holds no data for array {a}")
                i = order[a]
                rows = self.verified_rows(a, i, sums)  # each row read once
                fields = {
                    n: rows[n][0] if n in rows else self.run.read(f"{GROUP}/{n}", i)
                    for n in _STREAMS
                }  # (a stream missing: the read names it)
                fields |= {n: rows[n][0] for n in _BIAS_STREAMS if n in rows}
                out[a] = SwitchingData(**fields)
        return out

    def save_defect_map(self, arrays: list[int], result: DefectMap) -> None:
        self.run.write(
            "defects/arrays",
            np.asarray(arrays, dtype=np.int32),
            "1",
            "array of each slice of the maps below",
        )
        self.run.write(
            "defects/codes",
            result.codes,
            "1",
            "defect code per device: " + ", ".join(f"{c.value}={c.name}" for c in DefectCode),
        )
        self.run.write("defects/g_p", result.g_p, "S", "mean conductance after P writes")
        self.run.write("defects/g_ap", result.g_ap, "S", "mean conductance after AP writes")
        if result.confidence is not None:
            self.run.write(
                "defects/confidence",
                result.confidence.astype(np.float32),
                "1",
                "posterior probability of the reported class (of the best guess if UNCERTAIN)",
            )
        if result.best_guess is not None:
            self.run.write(
                "defects/best_guess",
                result.best_guess,
                "1",
                "most probable class, also for UNCERTAIN devices (codes as in 'codes')",
            )
        if result.posterior is not None:
            self.run.write(
                "defects/posterior",
                result.posterior.astype(np.float32),
                "1",
                "posterior per class (last axis): GOOD, SHORT, OPEN, STUCK_P, STUCK_AP",
            )
        if result.resistive_open is not None:
            self.run.write(
                "defects/resistive_open",
                np.asarray(result.resistive_open, bool),
                "1",
                "OPEN devices that still conduct (resistive opens: the sub-class of OPEN "
                "between the hard open level and the P level, no switching)",
            )
        for name, values in (("bias_p", result.bias_p), ("bias_ap", result.bias_ap)):
            if values is not None:
                self.run.write(
                    f"defects/{name}",
                    np.asarray(values, dtype=np.float32),
                    "1",
                    "bias signature ln(G(V_high) / G(V_low)) after "
                    + ("P" if name == "bias_p" else "AP")
                    + " writes, mean over cycles (natural log of a ratio)",
                )
        attrs = {f"threshold_{k}": v for k, v in result.thresholds.as_dict().items()}
        self.run.set_attrs(
            "defects",
            **attrs,
            threshold_units="S",
            defects_version=DEFECTS_VERSION if result.model else 1,
            model=json.dumps(result.model),
            warnings=json.dumps(result.warnings),
            overlap=json.dumps(result.overlap),
            remeasured=json.dumps(result.remeasured),
        )
        self.run.flush()

    def save_remeasurement(
        self, arrays: list[int], selected: np.ndarray, data: list[SwitchingData]
    ) -> None:
        """Store the targeted re-measurement of uncertain devices (replaces an earlier one)."""
        self.run.write("remeasure/arrays", np.asarray(arrays, dtype=np.int32), "1", "arrays")
        self.run.write(
            "remeasure/selected", np.asarray(selected, bool), "1", "cells re-written per array"
        )
        streams = {**_STREAMS, **_BIAS_STREAMS}
        for name in ("g_after_p", "g_after_ap", *_BIAS_STREAMS):
            if any(getattr(d, name) is None for d in data):
                continue
            self.run.write(
                f"remeasure/{name}",
                np.stack([getattr(d, name) for d in data]),
                "S",
                streams[name][1] + ", extra cycles of the selected cells",
            )
        self.run.flush()

    def load_remeasurement(self) -> tuple[list[int], np.ndarray, list[SwitchingData]] | None:
        """The stored re-measurement as ``save_remeasurement`` got it (write-verify residuals
        are not stored: none), for a resumed run to replay; None when there is none, or when
        it cannot be read (then it is measured again, and a whole record replaces it)."""
        group = self.run.h5.get("remeasure")
        if group is None:
            return None
        try:
            arrays = [int(a) for a in self.run.read("remeasure/arrays")]
            selected = np.asarray(self.run.read("remeasure/selected"), bool)
            streams = {
                n: self.run.read(f"remeasure/{n}")
                for n in ("g_after_p", "g_after_ap", *_BIAS_STREAMS)
                if n in group or n in ("g_after_p", "g_after_ap")
            }
        except StoreError:
            return None
        if any(v.ndim != 5 or v.shape[0] != len(arrays) for v in streams.values()):
            return None
        data = []
        for k in range(len(arrays)):
            g = {n: np.asarray(v[k], float) for n, v in streams.items()}
            none = np.zeros((g["g_after_p"].shape[0], *g["g_after_p"].shape[2:]), bool)
            data.append(SwitchingData(residual_p=none, residual_ap=none.copy(), **g))
        return arrays, selected, data


@dataclass
class Characterization:
    """A characterisation read back from a run file (plain numpy arrays, SI units)."""

    path: Path
    attrs: dict[str, Any]
    plan: dict[str, Any]
    layout: dict[str, Any]
    arrays_done: list[int]
    arrays: np.ndarray | None
    codes: np.ndarray | None
    g_p: np.ndarray | None
    g_ap: np.ndarray | None
    thresholds: Thresholds | None
    confidence: np.ndarray | None = None
    best_guess: np.ndarray | None = None
    model: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    overlap: dict[str, float] = field(default_factory=dict)
    remeasured: dict[str, Any] = field(default_factory=dict)
    bias_p: np.ndarray | None = None
    bias_ap: np.ndarray | None = None
    posterior: np.ndarray | None = None
    resistive_open: np.ndarray | None = None
    array_time: np.ndarray | None = None
    """(len(arrays_done), 2) start and end of each array's measurement, s since its session
    began (None: the file records no times, e.g. one of mtj-hil 0.1)."""
    clock_source: str | None = None
    clock_sessions: list[int] = field(default_factory=list)

    @property
    def uncertain(self) -> int:
        """Number of UNCERTAIN devices (0 for unclassified or version-1 files)."""
        return 0 if self.codes is None else int((self.codes == DefectCode.UNCERTAIN).sum())

    @property
    def complete(self) -> bool:
        return self.codes is not None

    def counts(self) -> dict[str, int]:
        """Devices per defect code (empty if not classified yet)."""
        if self.codes is None:
            return {}
        return {c.name: int((self.codes == c).sum()) for c in DefectCode}


def load_characterization(path: str | Path) -> Characterization:
    """Read a characterisation run file.

    Raises:
        StoreError: not an mtj-hil characterisation run file, or damaged or incomplete
            (naming the file and what could not be read).
    """
    with RunFile.open(path, "r", kind=KIND) as run, reader_errors(Path(path)):
        attrs = run.attrs
        sink = CharacterizationRun(run)
        sink.check_arrays_whole()
        done = sink.completed_arrays()
        bad = sink.unverified_arrays()
        if bad:
            raise StoreError(
                f"{path}: the data of arrays {bad} do not match their checksums "
                f"({GROUP}/array_sha256): the file was changed or damaged"
            )
        h5 = run.h5
        thresholds = arrays = codes = g_p = g_ap = None
        extra: dict[str, Any] = {}
        if "defects" not in h5 and run.status == "completed":  # classified last, then completed
            raise StoreError(
                f"{path} is marked completed but holds no classification (no defects/ group): "
                "the file is damaged"
            )
        if "defects" in h5:
            arrays = run.read("defects/arrays")
            codes = run.read("defects/codes")
            g_p = run.read("defects/g_p")
            g_ap = run.read("defects/g_ap")
            thresholds = read_thresholds(path, h5["defects"].attrs)
            grp = h5["defects"]
            for name in (
                "confidence",
                "best_guess",
                "posterior",
                "bias_p",
                "bias_ap",
                "resistive_open",
            ):
                if name in grp:
                    extra[name] = run.read(f"defects/{name}")
            for name in ("model", "warnings", "overlap", "remeasured"):
                if name in grp.attrs:
                    extra[name] = json.loads(grp.attrs[name])
        times = h5.get(f"{GROUP}/{_TIME}")
        if times is not None and times.shape[0] >= len(done) and len(done):
            extra["array_time"] = run.read(f"{GROUP}/{_TIME}")[: len(done)]
            source = h5[GROUP].attrs.get("clock_source", "unknown")
            extra["clock_source"] = source.decode() if isinstance(source, bytes) else str(source)
            extra["clock_sessions"] = json.loads(h5[GROUP].attrs.get("clock_sessions", "[0]"))
        plan, layout = json.loads(h5.attrs["plan"]), json.loads(h5.attrs["layout"])
        for name, value in (("plan", plan), ("layout", layout)):
            if not isinstance(value, dict):
                raise StoreError(
                    f"{path}: its {name} attribute is not a JSON object: the file is damaged "
                    "or was not written by mtj-hil"
                )
        return Characterization(
            path=Path(path),
            attrs=attrs,
            plan=plan,
            layout=layout,
            arrays_done=done,
            arrays=arrays,
            codes=codes,
            g_p=g_p,
            g_ap=g_ap,
            thresholds=thresholds,
            **extra,
        )
