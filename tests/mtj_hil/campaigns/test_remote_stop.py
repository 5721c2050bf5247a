"""Stopping ``campaign run`` stops its tasks on workers no signal reaches: the client sets the
run's Dask event, each task's next bus transaction raises StopSignal, and the usual shutdown
follows (outputs off, run file aborted). Before, a task on a ``--scheduler`` worker drove
its station on and its run file ended ``completed`` after the command said it had stopped."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from mtj_hil.instruments.bus.signals import (
    StopSignal,
    forget_requested_stop,
    request_stop,
)
from mtj_hil.instruments.bus.transport import transaction

ROOT = Path(__file__).parents[3]


def test_a_requested_stop_is_raised_once_by_its_own_thread_before_a_transaction():
    steps = []
    other = threading.Thread(target=lambda: steps.append(_transact_once()))
    request_stop(threading.get_ident(), signal.SIGTERM)
    other.start()
    other.join()
    assert steps == ["done"]  # another thread is not stopped
    with pytest.raises(StopSignal) as caught, transaction("test://remote-stop"):
        steps.append("sent")  # never: raised before the transaction starts
    assert caught.value.signum == signal.SIGTERM and steps == ["done"]
    assert _transact_once() == "done"  # once: the shutdown's own transactions run
    request_stop(threading.get_ident())
    forget_requested_stop(threading.get_ident())  # a task that ended leaves nothing behind
    assert _transact_once() == "done"


def _transact_once() -> str:
    with transaction("test://remote-stop"):
        return "done"


def _task(event_name: str) -> str:
    from mtj_hil.campaigns.remote_stop import stopped_by_client

    t0 = time.monotonic()
    try:
        with stopped_by_client(event_name):
            while time.monotonic() - t0 < 30:
                _transact_once()
                time.sleep(0.02)
    except StopSignal as exc:
        return f"stopped by {exc.name}"
    return "ran to its end"


@pytest.mark.slow
def test_a_task_on_a_worker_stops_at_its_next_transaction_when_the_client_says_so():
    from distributed import Client, Event, LocalCluster

    with (
        LocalCluster(
            n_workers=1, threads_per_worker=1, processes=True, dashboard_address=None
        ) as cluster,
        Client(cluster) as client,
    ):
        fut = client.submit(_task, "mtj-hil-stop-test", pure=False)
        time.sleep(2)
        t0 = time.monotonic()
        Event("mtj-hil-stop-test", client=client).set()
        assert fut.result(timeout=30) == "stopped by SIGTERM"
        assert time.monotonic() - t0 < 5


CAMPAIGN = """
[campaign]
name = "remote-stop"
out_dir = "out"

[[task]]
name = "bench"
kind = "characterize"
station = "lab.toml"
dies = [0]
arrays = "0-31"
cycles = 3
"""


@pytest.mark.slow
@pytest.mark.skipif(
    shutil.which("dask", path=str(Path(sys.executable).parent)) is None,
    reason="the dask command is not installed here",
)
def test_stopping_campaign_run_aborts_the_run_on_a_remote_worker(tmp_path):
    bin_dir = Path(sys.executable).parent
    shutil.copy(ROOT / "stations" / "virtual-lab.toml", tmp_path / "lab.toml")
    (tmp_path / "c.toml").write_text(CAMPAIGN)
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL, "cwd": tmp_path}
    scheduler = subprocess.Popen(
        [str(bin_dir / "dask"), "scheduler", "--port", str(port), "--no-dashboard"], **quiet
    )
    worker = None
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # the scheduler listens
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.2)
        worker = subprocess.Popen(
            [str(bin_dir / "dask"), "worker", address, "--nthreads", "1", "--no-dashboard"],
            **quiet,
        )
        # (campaign run waits for the worker to join)
        run = subprocess.Popen(
            [str(bin_dir / "mtj-hil"), "campaign", "run", "c.toml", "--scheduler", address],
            cwd=tmp_path,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        out = tmp_path / "out" / "bench" / "die0.h5"
        deadline = time.monotonic() + 90
        while not out.exists() and time.monotonic() < deadline:
            time.sleep(0.2)
        time.sleep(2)  # some arrays measured, most not
        run.send_signal(signal.SIGTERM)
        stopped_at = time.time()
        text = run.communicate(timeout=120)[0]
        assert run.returncode == 143, text
    finally:
        for proc in (worker, scheduler):
            if proc is not None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    os.kill(proc.pid, signal.SIGKILL)
    from mtj_hil.runs.store import RunFile

    with RunFile.open(out) as run_file:
        assert run_file.status == "aborted", run_file.attrs.get("status_reason")
        ended = run_file.attrs["ended"]
    from datetime import datetime

    assert datetime.fromisoformat(ended).timestamp() < stopped_at + 10
