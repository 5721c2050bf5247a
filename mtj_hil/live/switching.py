"""A switching run file as the page draws it: S-curves (probability of switching against
pulse amplitude) as arrays land, write-error rate against amplitude, and maps of the
critical voltage, provisional (where each device's measured probability crosses 1/2 at the
longest width) until the fits (Vc0, Delta) are written."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import h5py
import numpy as np

from mtj_hil.live.common import finite_list

GROUP = "switching"
FIT = "switching_fit"


@dataclass
class ArrayCounts:
    """One array's grid: per point direction, width (s), amplitude (V), floor flag, and the
    trials and switches per device ``(points, rows, cols)``."""

    direction: np.ndarray
    width: np.ndarray
    amplitude: np.ndarray
    floor: np.ndarray
    trials: np.ndarray
    switched: np.ndarray

    def vc50(self, direction: int) -> np.ndarray:
        """Per device, the amplitude (V) where its switching probability first reaches 1/2
        at the longest width (linear between grid points); NaN where it never does."""
        rows, cols = self.trials.shape[1:]
        pick = (self.direction == direction) & ~self.floor
        if not pick.any():
            return np.full((rows, cols), np.nan)
        pick &= self.width == self.width[pick].max()
        order = np.argsort(self.amplitude[pick])
        amp = self.amplitude[pick][order]
        with np.errstate(invalid="ignore", divide="ignore"):
            p = (self.switched[pick] / self.trials[pick])[order].reshape(len(amp), -1)
        out = np.full(p.shape[1], np.nan)
        above = p >= 0.5
        first = np.where(above.any(axis=0), above.argmax(axis=0), -1)
        for d in np.flatnonzero(first >= 0):
            k = first[d]
            if k == 0 or not np.isfinite(p[k - 1, d]):
                out[d] = amp[k]
            else:
                p0, p1 = p[k - 1, d], p[k, d]
                out[d] = amp[k - 1] + (0.5 - p0) / max(p1 - p0, 1e-12) * (amp[k] - amp[k - 1])
        return out.reshape(rows, cols)


def read_array(h5: h5py.File, i: int) -> ArrayCounts:
    """Stream rows of the ``i``-th finished array (``points_end`` says where they end)."""
    g = h5[GROUP]
    ends = g["points_end"][: i + 1]
    p0, p1 = (int(ends[i - 1]) if i else 0), int(ends[i])
    return ArrayCounts(
        direction=g["point_direction"][p0:p1],
        width=g["point_width"][p0:p1],
        amplitude=g["point_amplitude"][p0:p1],
        floor=g["point_floor"][p0:p1].astype(bool),
        trials=g["trials"][p0:p1],
        switched=g["switched"][p0:p1],
    )


def curves(data: list[ArrayCounts]) -> list[dict[str, Any]]:
    """Pooled S-curves: per direction and width, switches over trials of every device at
    each amplitude (floor points left out), with the write-error rate 1 - P."""
    from mtj_hil.protocols.chip import CellState  # when first needed (see .characterization)

    sums: dict[tuple[int, float, float], list[int]] = {}
    for d in data:
        t = d.trials.reshape(len(d.amplitude), -1).sum(axis=1)
        s = d.switched.reshape(len(d.amplitude), -1).sum(axis=1)
        for k in np.flatnonzero(~d.floor):
            key = (int(d.direction[k]), float(d.width[k]), float(d.amplitude[k]))
            acc = sums.setdefault(key, [0, 0])
            acc[0] += int(t[k])
            acc[1] += int(s[k])
    out = []
    for direction, width in sorted({(k[0], k[1]) for k in sums}):
        amps = sorted(k[2] for k in sums if k[:2] == (direction, width))
        trials = [sums[(direction, width, a)][0] for a in amps]
        switched = [sums[(direction, width, a)][1] for a in amps]
        p = [s / t if t else None for s, t in zip(switched, trials, strict=True)]
        out.append(
            {
                "direction": CellState(direction).name,
                "width": width,
                "amplitudes": amps,
                "p": p,
                "wer": [None if v is None else 1 - v for v in p],
                "trials": trials,
            }
        )
    return out


class SwitchingView:
    """Keeps each finished array's counts between snapshots (each read once)."""

    def __init__(self) -> None:
        self.data: dict[int, ArrayCounts] = {}

    def update(self, h5: h5py.File) -> list[int]:
        """Read the arrays flushed since the last call; returns the finished arrays."""
        g = h5.get(GROUP)
        if g is None or "array_index" not in g or "points_end" not in g:
            return []
        done = [int(a) for a in g["array_index"][()]]
        done = done[: min(len(done), g["points_end"].shape[0])]
        for i, a in enumerate(done):
            if a not in self.data:
                self.data[a] = read_array(h5, i)
        return done

    def arrays_read(self) -> list[int]:
        """Arrays read from the file so far."""
        return list(self.data)

    def forget(self, arrays: set[int], finals: bool = False) -> None:
        """Drop arrays read from a file that changed under the read (read again later)."""
        for a in arrays:
            self.data.pop(a, None)

    def as_json(self, h5: h5py.File, done: list[int]) -> dict[str, Any]:
        from mtj_hil.protocols.chip import CellState

        data = [self.data[a] for a in done if a in self.data]
        maps = [
            {
                "array": a,
                "final": False,
                "vc_AP": finite_list(self.data[a].vc50(CellState.AP)),
                "vc_P": finite_list(self.data[a].vc50(CellState.P)),
            }
            for a in done
            if a in self.data
        ]
        out: dict[str, Any] = {
            "curves": curves(data),
            "latest": curves(data[-1:]),
            "latest_array": done[-1] if done else None,
            "maps": maps,
            "fit": None,
        }
        if FIT in h5 and "arrays" in h5[FIT]:
            out["fit"], out["maps"] = fitted(h5[FIT])
        return out


def fitted(fit: h5py.Group) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The written fits: die WER curves per direction and the per-device Vc0 and Delta maps."""
    arrays = [int(a) for a in fit["arrays"][()]]
    wer, maps = {}, [{"array": a, "final": True} for a in arrays]
    for name in ("AP", "P"):
        if name not in fit:
            continue
        g = fit[name]
        wer[name] = {
            "amplitudes": finite_list(g["wer_amplitudes"][()]),
            "widths": finite_list(g["wer_widths"][()]),
            "median": [finite_list(row) for row in g["wer_median"][()]],
        }
        vc, delta = g["vc"][()], g["delta"][()]
        for k, m in enumerate(maps):
            m[f"vc_{name}"] = finite_list(vc[k])
            m[f"delta_{name}"] = finite_list(delta[k], 3)
    return {"wer": wer}, maps
