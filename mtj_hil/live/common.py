"""What every run-file snapshot shares: the header (die, station, plan, status), progress
with elapsed and remaining time from the run's timeline, and the warnings it logged."""

from __future__ import annotations

import json
import math
import time
from datetime import datetime
from typing import Any

import h5py
import numpy as np

TIMELINE = "timeline/arrays"
EVENTS = "timeline/events"
"""Datasets written by :mod:`mtj_hil.runs.jobs.timeline` (read here by name: a viewer does
not import the writer)."""


def attr(h5: h5py.File, key: str, default: Any = "") -> Any:
    """A root attribute as a plain Python value (bytes decoded, numpy scalars unboxed)."""
    value = h5.attrs.get(key, default)
    if isinstance(value, bytes):
        return value.decode(errors="replace")
    if isinstance(value, np.generic):
        return value.item()
    return value


def json_attr(h5: h5py.File | h5py.Group, key: str, default: Any) -> Any:
    """A JSON-encoded attribute, or ``default`` when missing or not JSON."""
    raw = h5.attrs.get(key)
    if raw is None or raw == "":
        return default
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return default


def epoch(iso: str) -> float | None:
    """Seconds since the epoch of an ISO 8601 time, None if empty or malformed."""
    try:
        return datetime.fromisoformat(iso).timestamp() if iso else None
    except ValueError:
        return None


def station_text(station: dict[str, Any]) -> str:
    """One line naming where the run was measured."""
    if station.get("backend") == "simulated":
        return f"in-process simulator ({station.get('label', '?')})"
    st = station.get("station") or {}
    inst = station.get("instruments") or {}
    name = st.get("name") or "station"
    return f"{name}: " + "; ".join(f"{k} {v}" for k, v in inst.items()) if inst else name


def header(h5: h5py.File) -> dict[str, Any]:
    """Who, what, where: the run's provenance the page shows."""
    station = json_attr(h5, "station", {})
    return {
        "kind": attr(h5, "kind"),
        "die_id": attr(h5, "die_id"),
        "run_id": attr(h5, "run_id"),
        "status": attr(h5, "status"),
        "status_reason": attr(h5, "status_reason"),
        "started": attr(h5, "started"),
        "ended": attr(h5, "ended"),
        "operator": attr(h5, "operator"),
        "host": attr(h5, "host"),
        "command": attr(h5, "command"),
        "station": station_text(station),
        "plan": json_attr(h5, "plan", {}),
        "layout": json_attr(h5, "layout", {}),
        "resumed": json_attr(h5, "resumed", []),
    }


def progress(
    h5: h5py.File, head: dict[str, Any], done: int, total: int, state: str
) -> dict[str, Any]:
    """Arrays done of planned, elapsed and estimated remaining time (s): wall clock, and
    the virtual lab's modelled time where the timeline has it. The estimate is the time per
    array so far (this session) times the arrays left; None before the first array. An
    ``interrupted`` run's time stops at its last flushed array."""
    rows = h5[TIMELINE][()] if TIMELINE in h5 else np.zeros((0, 3))
    start = epoch(head["started"]) or time.time()
    resumes = [epoch(r.get("at", "")) for r in head["resumed"] if isinstance(r, dict)]
    session = max([start, *[r for r in resumes if r]])
    end = epoch(head["ended"]) if head["status"] != "running" else None
    if state == "interrupted" and len(rows):
        end = float(rows[-1, 1])
    now = end or time.time()
    left = max(total - done, 0)
    in_session = rows[rows[:, 1] >= session - 1.0] if len(rows) else rows
    per_wall = (now - session) / len(in_session) if len(in_session) else None
    out: dict[str, Any] = {
        "done": done,
        "total": total,
        "elapsed_s": max(now - start, 0.0),
        "remaining_s": 0.0 if not left else (None if per_wall is None else per_wall * left),
        "lab_elapsed_s": None,
        "lab_remaining_s": None,
        "last_flush": float(rows[-1, 1]) if len(rows) else None,
    }
    lab = rows[:, 2] if len(rows) else np.zeros(0)
    if lab.size and np.isfinite(lab).any():
        finite = lab[np.isfinite(lab)]
        breaks = np.flatnonzero(np.diff(finite) < 0)  # the clock restarts on a resume
        ends = np.append(finite[breaks], finite[-1])
        out["lab_elapsed_s"] = float(ends.sum())
        per_lab = float(finite[-1]) / (len(finite) - (breaks[-1] + 1 if breaks.size else 0))
        out["lab_remaining_s"] = per_lab * left
    return out


def events(h5: h5py.File) -> list[dict[str, Any]]:
    """Warnings the run logged (instruments, station, ...), oldest first."""
    if EVENTS not in h5:
        return []
    out = []
    for raw in h5[EVENTS][()]:
        try:
            e = json.loads(raw.decode() if isinstance(raw, bytes) else raw)
        except ValueError:
            continue
        out.append({"t": e.get("t"), "source": e.get("source", "run"), "text": e.get("text", "")})
    return out


def finite_list(values: np.ndarray, digits: int = 4) -> list[float | None]:
    """Floats rounded to ``digits`` significant digits for JSON, None for NaN and inf."""
    flat = np.asarray(values, float).ravel()
    return [float(f"{v:.{digits}g}") if math.isfinite(v) else None for v in flat]
