"""Campaigns on a 2-worker LocalCluster: results equal a serial run, a killed worker costs
only its task's unfinished part, failures are recorded, stations are held alone."""

from __future__ import annotations

import os
import signal
import threading
import time
from dataclasses import replace
from datetime import datetime
from pathlib import Path

import pytest

from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.engine import digests, run_campaign
from mtj_hil.campaigns.index import CampaignIndex
from mtj_hil.campaigns.results import write_report
from mtj_hil.runs.store.runfile import RunFile

from .conftest import write_campaign

pytestmark = [pytest.mark.slow, pytest.mark.filterwarnings("ignore::DeprecationWarning")]


def only_arrays(path: Path, arrays: str) -> Path:
    """The campaign file ``path`` (:func:`write_campaign`'s) with its lot measuring only
    ``arrays`` of each die: what the engine does with a task does not depend on how much of
    its die it measures, and a whole die takes seconds."""
    text = path.read_text()
    lot = 'kind = "characterize"\n'
    path.write_text(text.replace(lot, f'{lot}arrays = "{arrays}"\n', 1))
    return path


@pytest.fixture(scope="module")
def serial(tmp_path_factory: pytest.TempPathFactory):
    """The small campaign (one die, two Borders seeds) run serially in this process: its
    spec."""
    folder = tmp_path_factory.mktemp("serial")
    spec = load_campaign(write_campaign(folder, dies="0"))
    outcome = run_campaign(spec)
    assert outcome.ok and len(outcome.completed) == 3
    return spec


def _report_tables(spec) -> dict[str, str]:
    _, paths = write_report(spec)
    return {k: p.read_text() for k, p in paths.items() if k.endswith("-csv")}


def test_two_workers_match_serial_run(tmp_path: Path, serial, cluster_client) -> None:
    # the die's characterisation on one worker, its two Borders seeds on both
    spec = load_campaign(write_campaign(tmp_path, dies="0"))
    outcome = run_campaign(spec, cluster_client)
    assert outcome.ok and sorted(outcome.completed) == sorted(t.id for t in spec.tasks)
    assert digests(spec) == digests(serial)
    assert _report_tables(spec) == _report_tables(serial)
    records = CampaignIndex(spec.index_path).records()
    assert {r["worker"] for r in records.values()} <= set(
        cluster_client.scheduler_info()["workers"]
    )
    for task in spec.tasks:
        rec = records[task.id]
        assert rec["status"] == "completed" and rec["run_file"] == str(task.run_file)
        assert len(rec["checksum"]) == 64 and rec["run_id"] and rec["started"] <= rec["ended"]
    again = run_campaign(spec, cluster_client)
    assert again.completed == [] and len(again.skipped) == len(spec.tasks)


def test_killed_worker_then_rerun_gives_identical_results(tmp_path: Path, cluster_client) -> None:
    # heavier characterisations (a second or more each, 16 journal parts) so the kill lands
    # inside a task; one die per worker
    make = dict(dies="0-1", cycles=4, reads=4, borders=False)
    (tmp_path / "ref").mkdir()
    reference = load_campaign(only_arrays(write_campaign(tmp_path / "ref", **make), "0-7"))
    assert run_campaign(reference).ok
    spec = load_campaign(only_arrays(write_campaign(tmp_path, **make), "0-7"))
    victim_file = spec.tasks[0].run_file
    done: dict[str, object] = {}
    runner = threading.Thread(
        target=lambda: done.setdefault("outcome", run_campaign(spec, cluster_client))
    )
    runner.start()
    deadline = time.monotonic() + 60
    # kill once a few arrays are on disk (each committed as one journal part)
    parts = victim_file.with_name(victim_file.name + ".parts")
    while time.monotonic() < deadline and len(list(parts.glob("*.h5"))) < 4:
        time.sleep(0.005)
    processing = cluster_client.processing()
    pids = cluster_client.run(os.getpid)
    worker = next(w for w, keys in processing.items() if any("lot:die0" in str(k) for k in keys))
    os.kill(pids[worker], signal.SIGKILL)
    runner.join(120)
    assert not runner.is_alive()
    # the campaign may finish on the surviving worker, or record the loss; a rerun finishes
    outcome = run_campaign(spec, cluster_client)
    assert outcome.ok
    assert digests(spec) == digests(reference)
    with RunFile.open(victim_file) as run:
        resumed = run.attrs["resumed"]
    assert resumed, "the killed task's run file should be resumed, not started again"
    assert all(
        r["status"] == "completed" for r in CampaignIndex(spec.index_path).records().values()
    )


def test_failing_task_is_recorded_and_others_finish(tmp_path: Path, cluster_client) -> None:
    hot = """
[[task]]
name = "hot"
kind = "characterize"
dies = "4"
cycles = 1
"""
    spec = load_campaign(
        only_arrays(write_campaign(tmp_path, dies="0-1", borders=False, extra=hot), "0")
    )
    # a plan the die refuses, given to the task after loading so that it fails on its
    # worker (in the campaign file it is refused before any task starts: test_load_checks)
    task = spec.task("hot/die4")
    hot_task = replace(
        task, params={**task.params, "plan": {**task.params["plan"], "read_voltage": 0.9}}
    )
    spec = replace(spec, tasks=tuple(hot_task if t is task else t for t in spec.tasks))
    outcome = run_campaign(spec, cluster_client)
    assert list(outcome.failed) == ["hot/die4"]
    # refused by the plan check before any file or pulse, naming the voltage and the range
    # a plan setting outside the die's limits (an InvalidRequest naming read_voltage)
    assert "SettingOutsideLimits" in outcome.failed["hot/die4"]
    assert "0.9 V" in outcome.failed["hot/die4"]
    assert sorted(outcome.completed) == ["lot/die0", "lot/die1"]
    records = CampaignIndex(spec.index_path).records()
    assert records["hot/die4"]["status"] == "failed"
    assert "0.9 V lies outside" in records["hot/die4"]["error"]
    assert not spec.task("hot/die4").run_file.exists(), "a refused plan left a run file"


def test_dependents_of_a_failed_task_are_not_started(tmp_path: Path) -> None:
    spec = load_campaign(write_campaign(tmp_path, dies="0-1"))
    victim = spec.task("lot/die1").run_file
    run_campaign(load_campaign(write_campaign(tmp_path, dies="0-1", borders=False)))
    victim.write_bytes(b"not an HDF5 file")  # damaged after it was indexed
    outcome = run_campaign(spec)
    assert set(outcome.failed) == {"lot/die1", "sweep/seed0", "sweep/seed1"}
    assert "needs lot/die1" in outcome.failed["sweep/seed0"]
    assert not spec.task("sweep/seed0").run_file.exists()


def _interval(rec: dict) -> tuple[datetime, datetime]:
    return datetime.fromisoformat(rec["started"]), datetime.fromisoformat(rec["ended"])


def test_station_task_never_runs_twice_at_once(tmp_path: Path, cluster_client) -> None:
    station = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"
    (tmp_path / "s.toml").write_text(f"""
[campaign]
name = "s"
out_dir = "out"

[[task]]
name = "bench"
kind = "characterize"
station = "{station}"
dies = "0-2"
arrays = "0"
cycles = 1
""")
    spec = load_campaign(tmp_path / "s.toml")
    assert {t.station for t in spec.tasks} == {"virtual-lab"}
    outcome = run_campaign(spec, cluster_client)
    assert outcome.ok
    records = CampaignIndex(spec.index_path).records()
    spans = sorted(_interval(r) for r in records.values())
    assert len({r["worker"] for r in records.values()}) >= 1
    for (_, end), (start, _) in zip(spans, spans[1:], strict=False):
        assert start >= end, "two tasks drove the station at the same time"


def test_a_result_written_with_an_image_size_digits_ignored_still_loads(
    tmp_path: Path, serial
) -> None:
    """Before image_size was refused beside digits, a result recorded the size given; the
    report still reads such a file (the data set never used the size)."""
    import json
    import shutil

    from mtj_hil.campaigns.kinds.borders import load_result

    task = next(t for t in serial.tasks if t.kind == "borders")
    old = tmp_path / "borders.h5"
    shutil.copy(task.run_file, old)
    with RunFile.open(old, "a") as run:
        cfg = json.loads(run.h5.attrs["config"])
        assert cfg["dataset"] == "digits"
        run.set_attrs("", config=json.dumps({**cfg, "image_size": 20}))
    result = load_result(old)
    assert result.config.dataset == "digits" and result.config.image_size == 10
    assert [d.wrong for d in result.dies] == [d.wrong for d in load_result(task.run_file).dies]


def test_no_more_tasks_are_marked_running_than_workers_run(
    tmp_path: Path, cluster_client, monkeypatch
) -> None:
    """Tasks were all marked 'running' (an attempt counted) when submitted: with 2 workers
    and 4 dies the index said 4 running, and after a kill 4 interrupted."""
    from mtj_hil.campaigns import index as index_module

    running: set[str] = set()
    most = 0
    real = index_module.CampaignIndex.update

    def watched(self, task_id, **values):
        nonlocal most
        if values.get("status") == "running":
            running.add(task_id)
        elif "status" in values:
            running.discard(task_id)
        most = max(most, len(running))
        return real(self, task_id, **values)

    monkeypatch.setattr(index_module.CampaignIndex, "update", watched)
    spec = load_campaign(only_arrays(write_campaign(tmp_path, dies="0-5", borders=False), "0"))
    assert run_campaign(spec, cluster_client).ok
    threads = sum(cluster_client.nthreads().values())
    assert 1 <= most <= threads, (most, threads)
