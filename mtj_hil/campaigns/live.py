"""A campaign as the live page draws it (``mtj-hil view CAMPAIGN.toml``, ``campaign run
--live``): tasks by state, the lot map, failures with their errors, and the progress of the
run files being written.

Everything is read from the files, never from the running client: the campaign index
(``campaign.h5``, read through :class:`~mtj_hil.campaigns.index.CampaignIndex` without its
lock, so the client's writes are never held up) and, for running tasks, their run files. The campaign counts as running while a
``campaign run`` holds the index's lock file.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Any

import h5py

from mtj_hil.campaigns.index import CampaignIndex, IndexUnreadable
from mtj_hil.campaigns.spec import CampaignSpec
from mtj_hil.live.common import epoch
from mtj_hil.live.liveness import writer_holds
from mtj_hil.live.reading import read_retrying
from mtj_hil.runs.store.journal import list_parts

STATES = ("pending", "running", "completed", "failed")


def _records(path: os.PathLike[str] | str) -> dict[str, dict[str, Any]]:
    """Task records of the index by task id (plain values, ``summary`` decoded), read
    through :class:`~mtj_hil.campaigns.index.CampaignIndex` without its lock; retried for
    up to 2 s while it cannot be read, then the error is raised.

    Raises:
        StoreError: the index is not a campaign index or stays unreadable.
    """
    if not Path(path).exists():
        return {}
    deadline = time.monotonic() + 2.0
    while True:
        try:
            return CampaignIndex(path).records()
        except IndexUnreadable:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def _summary_yield(rec: dict[str, Any]) -> float | None:
    try:
        counts = (rec.get("summary") or {}).get("counts") or {}
    except AttributeError:
        return None
    total = sum(counts.values())
    return counts.get("GOOD", 0) / total if total else None


def _run_progress(path: os.PathLike[str] | str) -> str:
    """``"k/n arrays"`` of a run file being written, or "" if it cannot be read yet."""

    def read(h5: h5py.File) -> str:
        planned = len(json.loads(h5.attrs.get("plan", "{}")).get("arrays", []))
        kind = str(h5.attrs.get("kind", ""))
        index = f"{kind}/array_index"
        done = h5[index].shape[0] if index in h5 else 0
        return f"{done}/{planned} arrays"

    try:
        return read_retrying(path, read, attempts=2)
    except Exception:  # not there yet, or being created
        return ""


class CampaignSource:
    """A campaign watched by the live server (see the module docstring)."""

    def __init__(self, spec: CampaignSpec) -> None:
        self.spec = spec
        self.title = f"campaign {spec.name}"
        self.lock = spec.index_path.with_name(spec.index_path.name + ".lock")
        self._running: list[str] = []

    def key(self) -> Any:
        def stat(p: Any) -> tuple[int, int] | None:
            try:
                st = os.stat(p)
            except OSError:
                return None
            return (st.st_mtime_ns, st.st_size)

        files = [self.spec.task(t).run_file for t in self._running]
        runs = tuple((stat(f), len(list_parts(Path(f)))) for f in files)  # parts: commits
        return (
            stat(self.spec.index_path),
            runs,
            writer_holds(self.lock) if self.lock.exists() else None,
        )

    def snapshot(self) -> dict[str, Any]:
        records = _records(self.spec.index_path)
        active = self.lock.exists() and writer_holds(self.lock) is True
        tasks, by_kind, failures, lot = [], {}, [], []
        for t in self.spec.tasks:
            rec = records.get(t.id, {})
            status = str(rec.get("status") or "pending")
            if status == "running" and not active:
                status = "interrupted"
            row = {
                "id": t.id,
                "kind": t.kind,
                "status": status,
                "worker": rec.get("worker", ""),
                "started": rec.get("started", ""),
                "ended": rec.get("ended", ""),
                "progress": _run_progress(t.run_file) if status == "running" else "",
            }
            tasks.append(row)
            counts = by_kind.setdefault(t.kind, {s: 0 for s in (*STATES, "interrupted")})
            counts[status] = counts.get(status, 0) + 1
            if status == "failed":
                failures.append({"id": t.id, "error": rec.get("error", "")})
            if t.kind == "characterize":
                lot.append(
                    {
                        "label": t.id.split("/", 1)[-1],
                        "status": status,
                        "yield": _summary_yield(rec) if status == "completed" else None,
                        "progress": row["progress"],
                    }
                )
        self._running = [r["id"] for r in tasks if r["status"] == "running"]
        yields = [d["yield"] for d in lot if d["yield"] is not None]
        done = sum(r["status"] == "completed" for r in tasks)
        return {
            "source": "campaign",
            "title": self.title,
            "path": str(self.spec.file),
            "state": self._state(records, tasks, active),
            "header": {
                "kind": "campaign",
                "die_id": self.spec.name,
                "station": f"{len(self.spec.tasks)} tasks -> {self.spec.out_dir}",
                "plan": {g: n for g, n in _groups(self.spec).items()},
                "run_id": "",
                "started": min((r["started"] for r in tasks if r["started"]), default=""),
                "ended": "",
                "operator": "",
                "host": "",
                "status_reason": "",
                "layout": {},
            },
            "progress": _progress(tasks, done, active),
            "campaign": {
                "by_kind": by_kind,
                "tasks": tasks,
                "failures": failures,
                "lot": lot,
                "lot_range": [min(yields), max(yields)] if yields else [0, 1],
            },
            "warnings": [{"source": f["id"], "text": f["error"]} for f in failures],
            "message": "" if records else "not started yet: no campaign index",
        }

    def _state(self, records: dict, tasks: list[dict], active: bool) -> str:
        if active:
            return "running"
        if not records:
            return "waiting"
        if any(t["status"] == "interrupted" for t in tasks):
            return "interrupted"
        if any(t["status"] == "failed" for t in tasks):
            return "failed"
        if all(t["status"] == "completed" for t in tasks):
            return "completed"
        return "stopped"


def _groups(spec: CampaignSpec) -> dict[str, str]:
    out: dict[str, list[str]] = {}
    for t in spec.tasks:
        out.setdefault(t.group, []).append(t.kind)
    return {g: f"{len(k)} {k[0]} task(s)" for g, k in out.items()}


def _progress(tasks: list[dict], done: int, active: bool) -> dict[str, Any]:
    starts = [s for s in (epoch(t["started"]) for t in tasks) if s]
    ends = [e for e in (epoch(t["ended"]) for t in tasks) if e]
    start = min(starts) if starts else None
    now = time.time() if active or not ends else max(ends)
    elapsed = (now - start) if start else 0.0
    left = len(tasks) - done
    return {
        "done": done,
        "total": len(tasks),
        "elapsed_s": elapsed,
        "remaining_s": (elapsed / done * left) if done and left else (0.0 if not left else None),
        "lab_elapsed_s": None,
        "lab_remaining_s": None,
    }


def _serve_child() -> int:
    """``python -m mtj_hil.campaigns.live CAMPAIGN.toml --fd N``: the ``campaign run
    --live`` server (see :mod:`mtj_hil.live.child`)."""
    from mtj_hil.campaigns.spec import load_campaign
    from mtj_hil.live.child import main

    return main(lambda path: CampaignSource(load_campaign(path)))


if __name__ == "__main__":
    sys.exit(_serve_child())
