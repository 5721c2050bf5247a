"""Running a campaign: check what is finished, claim run files, hand tasks to Dask in
dependency order, record every outcome in the index.

Without a client the same tasks run one after the other in this process (tests, baselines).
"""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtj_hil.campaigns.claims import claim
from mtj_hil.campaigns.cluster import connect, dashboard_link
from mtj_hil.campaigns.index import CampaignIndex, IndexUnreadable, file_checksum
from mtj_hil.campaigns.rebuild import set_aside
from mtj_hil.campaigns.registry import get_kind
from mtj_hil.campaigns.remote_stop import stop_tasks
from mtj_hil.campaigns.spec import CampaignSpec
from mtj_hil.campaigns.task import Task
from mtj_hil.campaigns.worker import execute_task
from mtj_hil.errors import ConfigError, StoreError
from mtj_hil.fileio.atomic import remove_stale_temps
from mtj_hil.runs.store.journal import RecoveryWarning
from mtj_hil.runs.store.runfile import RunFile, now_iso

__all__ = ["CampaignIncomplete", "CampaignOutcome", "connect", "dashboard_link", "run_campaign"]

Progress = Callable[[str, int, int], None]
"""``progress(kind, done, total)``: tasks of ``kind`` finished (completed or failed)."""


class CampaignIncomplete(RuntimeError):
    """Some tasks failed; the others finished. ``mtj-hil campaign status`` lists the errors."""

    exit_code = 1
    """An expected outcome, not a crash: the command exits 1 and says so plainly."""


@dataclass
class CampaignOutcome:
    """What one ``run_campaign`` call did (task ids)."""

    skipped: list[str] = field(default_factory=list)
    completed: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    warnings: dict[str, list[str]] = field(default_factory=dict)
    """Task id -> the warnings its run raised (one-line texts), for tasks that raised any."""

    @property
    def ok(self) -> bool:
        return not self.failed


RESOURCE_PREFIX = "station-"
"""A worker started with ``--resources "station-<name>=1"`` is the one wired to that station:
its tasks are sent there (and nowhere else). Without such a worker they run anywhere, one at a
time under the station's lock."""


def worker_threads(client: Any) -> int:
    """Threads the cluster's workers run tasks on, all together (0 before any joined).

    Raises:
        ClusterLost: the scheduler no longer answers."""
    try:
        return sum(int(n) for n in client.nthreads().values())
    except OSError as exc:  # (distributed's own timeouts are OSErrors)
        raise ClusterLost(f"lost the Dask scheduler: {exc}") from exc


class ClusterLost(ConfigError):
    """The Dask scheduler stopped answering mid-campaign; what finished is recorded, and
    the campaign run again (on a running scheduler) finishes the rest."""

    def __init__(self, message: str) -> None:
        super().__init__(
            f"{message}; the tasks that finished are recorded: run the campaign again on a "
            "running scheduler to finish the rest"
        )


NO_WORKERS_POLL = 1.0
"""Seconds between looks for a first worker on a scheduler that has none."""


def wait_for_workers(client: Any) -> int:
    """The cluster's worker threads, waiting (with one warning) while it has none: a task
    submitted then would be marked running although no worker can start it."""
    threads = worker_threads(client)
    if threads:
        return threads
    warnings.warn(
        "the Dask scheduler has no workers; waiting for one to join (start one with "
        "'dask worker ADDRESS')",
        RecoveryWarning,
        stacklevel=2,
    )
    while not threads:
        time.sleep(NO_WORKERS_POLL)
        threads = worker_threads(client)
    return threads


def station_resources(client: Any) -> set[str]:
    """Names of the resources the cluster's workers offer."""
    workers = client.scheduler_info().get("workers", {})
    return {name for w in workers.values() for name in (w.get("resources") or {})}


def _base_record(task: Task) -> dict[str, Any]:
    return {
        "id": task.id,
        "kind": task.kind,
        "group": task.group,
        "run_file": str(task.run_file),
        "params_hash": task.params_hash(),
    }


def _initial_state(task: Task, rec: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    """``("done", updates)``, ``("todo", {})`` or ``("failed", updates)`` from the run file
    itself: finished means status ``completed`` in the file and, if the index has a
    checksum, the same checksum."""
    path = task.run_file
    if not path.exists():
        return "todo", {}
    checksum = file_checksum(path)
    if rec.get("checksum") and rec["checksum"] != checksum:
        return "failed", {
            "status": "failed",
            "error": f"run file {path} changed after it was indexed (checksum "
            f"{checksum[:12]} != {rec['checksum'][:12]}); left untouched",
        }
    try:
        with RunFile.open(path, "r") as run:
            status = run.status
    except StoreError:
        return "todo", {}  # cut short while being created: the worker sets it aside
    if status != "completed":
        return "todo", {}
    if rec.get("status") == "completed" and rec.get("checksum") == checksum:
        return "done", {}
    # completed on disk but not recorded (the client stopped before recording it)
    kind = get_kind(task.kind)
    return "done", {
        "status": "completed",
        "checksum": checksum,
        "digest": kind.digest(path),
        "error": "",
    }


def refuse_changed(spec: CampaignSpec, records: dict[str, dict[str, Any]]) -> None:
    """Refuse a campaign whose task's settings changed since its index recorded it
    completed, or begun (its run file would mix two settings); ``records`` by task id.

    Raises:
        ConfigError: naming the campaign file, the task, its run file and what to do.
    """
    for task in spec.tasks:
        rec = records.get(task.id)
        if rec is None or task.matches(rec.get("params_hash")):
            continue
        if rec.get("status") == "completed":
            raise ConfigError(
                f"{spec.file}: task {task.id} changed since it completed into "
                f"{task.run_file}; give the group another name or out_dir"
            )
        if task.run_file.exists() and int(rec.get("attempts") or 0) > 0:
            # begun with other settings: finishing it would mix them in one run file
            raise ConfigError(
                f"{spec.file}: task {task.id} changed since it began into "
                f"{task.run_file}, which holds part of its run with the settings it began "
                "with; restore them to finish it, give the group another name or out_dir, "
                "or remove the unfinished run file to measure it again"
            )


def run_campaign(
    spec: CampaignSpec,
    client: Any | None = None,
    progress: Progress | None = None,
    warn: Callable[[str, str], None] | None = None,
) -> CampaignOutcome:
    """Run every unfinished task of ``spec``; record each outcome in the index.

    ``warn(task_id, text)`` is called, as each task ends, for every warning its run raised
    (a missing calibration, a fallback to one command at a time, ...); the outcome keeps
    them too.

    Finished tasks (their run file ``completed`` and matching the indexed checksum) are
    skipped; unfinished run files are resumed by their kind. A failed task is recorded with
    its error and its dependents are not started; the others go on. With ``client`` tasks
    run on its Dask cluster, else one after the other here.

    Raises:
        ConfigError: a task's parameters changed since it completed.
        StoreError: the index is in use by another run, or a run file belongs to another
            campaign (before any task starts).
    """
    index = CampaignIndex(spec.index_path)
    report = progress or (lambda kind, done, total: None)
    outcome = CampaignOutcome()
    with index.exclusive():
        remove_stale_temps(spec.index_path.parent, spec.index_path.name)
        base = [_base_record(t) for t in spec.tasks]
        try:
            index.ensure(spec.name, spec.file, spec.text, base)
        except IndexUnreadable as exc:
            set_aside(spec.index_path, str(exc))
            index.ensure(spec.name, spec.file, spec.text, base)
        owner = spec.index_path.resolve()
        for task in spec.tasks:
            claim(task.run_file, owner)
        records = index.records()
        refuse_changed(spec, records)
        totals: dict[str, int] = {}
        done_by_kind: dict[str, int] = {}
        for task in spec.tasks:
            totals[task.kind] = totals.get(task.kind, 0) + 1
            done_by_kind.setdefault(task.kind, 0)
        state: dict[str, str] = {}
        for task in spec.tasks:
            st, updates = _initial_state(task, records[task.id])
            if updates:
                index.update(task.id, **updates)
            state[task.id] = st
            if st == "done":
                outcome.skipped.append(task.id)
            elif st == "failed":
                outcome.failed[task.id] = updates["error"]
            if st != "todo":
                done_by_kind[task.kind] += 1
        for kind, total in totals.items():
            report(kind, done_by_kind[kind], total)

        def finish(task: Task, result: dict[str, Any]) -> None:
            said = result.pop("warnings", None) or []
            if said:
                outcome.warnings[task.id] = list(said)
                for text in said:
                    if warn is not None:
                        warn(task.id, text)
            index.update(task.id, **{k: v for k, v in result.items() if k != "id"})
            state[task.id] = "done" if result["status"] == "completed" else "failed"
            if result["status"] == "completed":
                outcome.completed.append(task.id)
            else:
                outcome.failed[task.id] = result.get("error", "")
            done_by_kind[task.kind] += 1
            report(task.kind, done_by_kind[task.kind], totals[task.kind])

        def blocked(task: Task) -> str | None:
            bad = [n for n in task.needs if state[n] == "failed"]
            return f"not run: needs {', '.join(bad[:3])}, which failed" if bad else None

        def ready(task: Task) -> bool:
            return state[task.id] == "todo" and all(state[n] == "done" for n in task.needs)

        attempts = {t.id: int(records[t.id].get("attempts", 0)) for t in spec.tasks}

        def start(task: Task) -> None:
            attempts[task.id] += 1
            state[task.id] = "running"
            index.update(
                task.id,
                status="running",
                params_hash=task.params_hash(),  # what it begins with (it may have changed
                attempts=attempts[task.id],  # since it was indexed, before it began)
                error="",
                started=now_iso(),
                ended="",
            )

        def settle_blocked() -> None:
            changed = True
            while changed:
                changed = False
                for task in spec.tasks:
                    why = blocked(task) if state[task.id] == "todo" else None
                    if why:
                        finish(task, {"status": "failed", "error": why, "ended": now_iso()})
                        changed = True

        if client is None:
            for task in spec.tasks:
                settle_blocked()
                if ready(task):
                    start(task)
                    finish(task, execute_task(task))
            settle_blocked()
            return outcome
        _run_on_cluster(spec, client, state, ready, start, finish, settle_blocked)
    return outcome


def _run_on_cluster(
    spec: CampaignSpec,
    client: Any,
    state: dict[str, str],
    ready: Callable[[Task], bool],
    start: Callable[[Task], None],
    finish: Callable[[Task, dict[str, Any]], None],
    settle_blocked: Callable[[], None],
) -> None:
    from distributed import as_completed

    tag = uuid.uuid4().hex[:8]
    futures = as_completed()
    owner: dict[str, Task] = {}
    live: dict[str, Any] = {}  # key -> future, of the tasks in flight
    offered = station_resources(client)

    def submit_ready() -> None:
        # no more tasks in flight than the workers have threads: a task submitted is one a
        # worker starts, so the index's 'running' (and, after a kill, 'interrupted' with an
        # attempt counted) is true of it
        settle_blocked()
        capacity = wait_for_workers(client) if not owner else worker_threads(client)
        for task in spec.tasks:
            if len(owner) >= capacity:
                break
            if ready(task):
                start(task)
                resource = RESOURCE_PREFIX + task.station if task.station else None
                fut = client.submit(
                    execute_task,
                    task,
                    # only a task driving a station is stopped through the event (a
                    # simulated die's has no bus to stop at)
                    stop_event if task.station is not None else None,
                    key=f"{task.id.replace('/', ':')}-{tag}",
                    pure=False,
                    resources={resource: 1} if resource in offered else None,
                )
                owner[fut.key] = task
                live[fut.key] = fut
                futures.add(fut)

    def record(fut: Any) -> None:
        task = owner.pop(fut.key)
        live.pop(fut.key, None)
        try:
            result = fut.result()
        except Exception as exc:  # KilledWorker, lost scheduler, unpicklable result...
            result = {
                "status": "failed",
                "error": f"{type(exc).__name__}: {exc}",
                "ended": now_iso(),
            }
        fut.release()  # recorded: a worker lost later must not make Dask recompute it
        finish(task, result)

    stop_event = f"mtj-hil-stop-{tag}"
    try:
        submit_ready()
        for fut in futures:
            record(fut)
            submit_ready()
    except KeyboardInterrupt:
        # tasks on workers no signal reaches stop at their next bus transaction
        # (only tasks that drive a station are waited for: a simulated die's has no bus
        # to stop at, and would only keep the command waiting)
        driving = {k: f for k, f in live.items() if owner[k].station is not None}
        stop_tasks(client, stop_event, driving, record)
        raise


def plain_loop(tasks: list[Task]) -> list[dict[str, Any]]:
    """Run tasks in order in this process with no engine at all (baseline for overheads)."""
    return [execute_task(t) for t in tasks]


def digests(spec: CampaignSpec) -> dict[str, str]:
    """The result digest of every task whose run file is completed (task id -> digest)."""
    out = {}
    for task in spec.tasks:
        path = Path(task.run_file)
        if path.exists():
            with RunFile.open(path, "r") as run:
                if run.status != "completed":
                    continue
            out[task.id] = get_kind(task.kind).digest(path)
    return out
