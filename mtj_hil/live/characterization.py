"""A characterisation run file as the page draws it: the die map array by array with each
device's class, yield per array, resistance distributions and the classifier's warnings.

Until the die-wide classification is written (``/defects``, when every planned array is
done) each array is classified on its own evidence as it lands
(:func:`mtj_hil.protocols.defects.detect.classify_reads` on that array alone): a provisional
map, marked so; the final one replaces it.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import h5py
import numpy as np

from mtj_hil.live.common import finite_list, json_attr

GROUP = "characterization"
HIST_BINS = 48
CLASSIFY_BUDGET = 0.1
"""s of provisional classification per snapshot (about three arrays of 625 devices)."""


@dataclass
class ArrayView:
    """One array's classes (codes, uint8 ``DefectCode``) and mean conductances (S)."""

    codes: np.ndarray | None
    g_p: np.ndarray
    g_ap: np.ndarray
    final: bool
    warnings: list[str] = field(default_factory=list)

    def as_json(self, array: int) -> dict[str, Any]:
        from mtj_hil.protocols.defects.codes import DefectCode

        devices = int(self.g_p.size)
        out: dict[str, Any] = {"array": array, "final": self.final, "devices": devices}
        if self.codes is None:
            out.update(codes=None, good=None, uncertain=None, yield_=None)
        else:
            good = int((self.codes == DefectCode.GOOD).sum())
            out.update(
                codes="".join(map(str, self.codes.ravel().tolist())),
                good=good,
                uncertain=int((self.codes == DefectCode.UNCERTAIN).sum()),
                yield_=good / devices,
            )
        out["yield"] = out.pop("yield_")
        return out


@dataclass
class Reads:
    """One array's raw reads ``(cycles, reads, rows, cols)`` (S), waiting to be classified."""

    g_p: np.ndarray
    g_ap: np.ndarray
    high_p: np.ndarray | None
    high_ap: np.ndarray | None


def read_array(h5: h5py.File, i: int) -> Reads:
    """Stream row ``i`` of the characterisation streams."""
    g = h5[GROUP]
    high = [g[n][i] if n in g and g[n].shape[0] > i else None for n in ("g_high_p", "g_high_ap")]
    return Reads(g["g_after_p"][i], g["g_after_ap"][i], high[0], high[1])


def unclassified(reads: Reads) -> ArrayView:
    """An array shown before its classification: mean conductances only."""
    with np.errstate(all="ignore"):
        return ArrayView(
            None, np.nanmean(reads.g_p, axis=(0, 1)), np.nanmean(reads.g_ap, axis=(0, 1)), False
        )


def provisional(reads: Reads) -> ArrayView:
    """One array classified on its own (no class if it cannot be fitted alone)."""
    # imported when first needed: a server nobody looks at never loads the classifier
    from mtj_hil.protocols.defects.detect import classify_reads
    from mtj_hil.protocols.errors import ProtocolError

    try:
        result = classify_reads(
            reads.g_p, reads.g_ap, g_high_p=reads.high_p, g_high_ap=reads.high_ap
        )
    except (ProtocolError, ValueError, FloatingPointError) as exc:
        view = unclassified(reads)
        view.warnings.append(f"not classified on its own: {exc}")
        return view
    return ArrayView(result.codes, result.g_p, result.g_ap, False, list(result.warnings))


class CharacterizationView:
    """Keeps each array's view between snapshots: a flushed array is read and classified
    once, and the final classification replaces the provisional ones when it appears."""

    def __init__(self) -> None:
        self.arrays: dict[int, ArrayView] = {}
        self.pending: dict[int, Reads] = {}
        self.final_warnings: list[str] = []

    def update(self, h5: h5py.File) -> list[int]:
        """Read what is new in the file; returns the arrays finished, in measured order."""
        g = h5.get(GROUP)
        done: list[int] = []
        if g is not None and "array_index" in g:
            done = [int(a) for a in g["array_index"][()]]
            rows = min(g[n].shape[0] for n in ("g_after_p", "g_after_ap") if n in g)
            done = done[: min(len(done), rows)]  # an index row is written last; be sure
        defects = h5.get("defects")
        if defects is not None and "codes" in defects and "arrays" in defects:
            if not any(v.final for v in self.arrays.values()):
                arrays = [int(a) for a in defects["arrays"][()]]
                codes, g_p, g_ap = defects["codes"][()], defects["g_p"][()], defects["g_ap"][()]
                for k, a in enumerate(arrays):
                    self.arrays[a] = ArrayView(codes[k], g_p[k], g_ap[k], True)
                self.final_warnings = json_attr(defects, "warnings", [])
                self.pending.clear()
            return done
        for i, a in enumerate(done):
            if a not in self.arrays:
                self.pending[a] = read_array(h5, i)
                self.arrays[a] = unclassified(self.pending[a])
        return done

    def arrays_read(self) -> list[int]:
        """Arrays read from the file so far."""
        return list(self.arrays)

    def forget(self, arrays: set[int], finals: bool = False) -> None:
        """Drop arrays read from a file that changed under the read (read again later), and
        with ``finals`` the final classification too."""
        for a in arrays:
            self.arrays.pop(a, None)
            self.pending.pop(a, None)
        if finals:
            self.arrays = {a: v for a, v in self.arrays.items() if not v.final}

    def classify_pending(self, budget: float = CLASSIFY_BUDGET) -> None:
        """Classify waiting arrays, oldest first, for about ``budget`` s (the rest wait for
        the next snapshot, so a new array reaches the page before it is classified)."""
        start = time.monotonic()
        while self.pending and time.monotonic() - start < budget:
            a = next(iter(self.pending))
            self.arrays[a] = provisional(self.pending.pop(a))

    def as_json(self, done: list[int]) -> dict[str, Any]:
        from mtj_hil.protocols.defects.codes import DefectCode

        shown = [a for a in done if a in self.arrays] + sorted(set(self.arrays) - set(done))
        views = [self.arrays[a].as_json(a) for a in shown]
        classified = [v for v in views if v["codes"] is not None]
        devices = sum(v["devices"] for v in classified)
        good = sum(v["good"] for v in classified)
        counts = {c.name: 0 for c in DefectCode}
        for a in shown:
            codes = self.arrays[a].codes
            if codes is not None:
                for c in DefectCode:
                    counts[c.name] += int((codes == c).sum())
        final = bool(views) and all(v["final"] for v in views)
        warnings = [
            {"source": "classifier", "text": w} for w in (self.final_warnings if final else [])
        ]
        if not final:
            warnings += [
                {"source": f"classifier (array {a})", "text": w}
                for a in shown
                for w in self.arrays[a].warnings
            ]
        return {
            "arrays": views,
            "counts": counts,
            "good": good,
            "devices": devices,
            "yield": good / devices if devices else None,
            "final": final,
            "histogram": self.histogram(shown),
            "warnings": warnings,
        }

    def histogram(self, shown: list[int]) -> dict[str, Any]:
        """Resistance after P and after AP writes (ohm), log-spaced bins over the devices
        shown; values outside the 0.5..99.5 % range (opens: infinite) fall in the end bins."""
        if not shown:
            return {"edges": [], "p": [], "ap": []}

        def ohms(g: np.ndarray) -> np.ndarray:  # no current at all: an open, R = inf
            with np.errstate(divide="ignore", invalid="ignore"):
                return np.where(g > 0, 1 / g, np.where(np.isnan(g), np.nan, np.inf))

        r_p = ohms(np.concatenate([self.arrays[a].g_p.ravel() for a in shown]))
        r_ap = ohms(np.concatenate([self.arrays[a].g_ap.ravel() for a in shown]))
        both = np.concatenate([r_p, r_ap])
        both = both[np.isfinite(both) & (both > 0)]
        if both.size == 0:
            return {"edges": [], "p": [], "ap": []}
        lo, hi = np.log10(np.percentile(both, [0.5, 99.5]))
        pad = 0.05 * max(hi - lo, 1e-3)
        edges = np.linspace(lo - pad, hi + pad, HIST_BINS + 1)

        def counts(r: np.ndarray) -> list[int]:
            with np.errstate(divide="ignore"):
                x = np.clip(np.log10(r[~np.isnan(r)]), edges[0], edges[-1])
            return np.histogram(x, edges)[0].tolist()

        return {"edges": finite_list(10**edges, 5), "p": counts(r_p), "ap": counts(r_ap)}
