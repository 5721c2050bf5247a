"""One writer per run file, without HDF5's file locking and without flock: the writer lease
keeps a second resume out, and a lease whose holder died is taken over with a message."""

from __future__ import annotations

import errno
import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from mtj_hil.errors import StoreError
from mtj_hil.runs.store import lease as lease_module
from mtj_hil.runs.store.journal import RecoveryWarning
from mtj_hil.runs.store.lease import WriterLease, lease_path

RESUMER = textwrap.dedent(
    """
    import sys, time
    from mtj_hil.runs.store.runfile import RunFile
    run = RunFile.open(sys.argv[1], "a")
    print("writing", flush=True)
    time.sleep(60)
    """
)


def test_a_second_resume_is_refused_without_hdf5_file_locking(run_file):
    env = dict(os.environ, HDF5_USE_FILE_LOCKING="FALSE")
    holder = subprocess.Popen(
        [sys.executable, "-c", RESUMER, str(run_file)], stdout=subprocess.PIPE, text=True, env=env
    )
    try:
        assert holder.stdout.readline().strip() == "writing"
        second = subprocess.run(
            [sys.executable, "-c", RESUMER, str(run_file)],
            capture_output=True,
            text=True,
            env=env,
            timeout=60,
            check=False,
        )
        assert second.returncode != 0
        assert f"being written by process {holder.pid}" in second.stderr
    finally:
        holder.kill()
        holder.wait()


def _no_flock(monkeypatch):
    def refuse(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(lease_module.fcntl, "flock", refuse)


def test_without_flock_a_live_holder_keeps_others_out(tmp_path, monkeypatch):
    _no_flock(monkeypatch)
    run = tmp_path / "run.h5"
    held = WriterLease.acquire(run)
    assert held.fd is None  # no lock on this file system: the lease file alone counts
    with pytest.raises(StoreError, match=f"being written by process {os.getpid()}"):
        WriterLease.acquire(run)
    held.release()
    WriterLease.acquire(run).release()


def test_a_dead_holders_lease_is_taken_over_with_a_message(tmp_path, monkeypatch):
    _no_flock(monkeypatch)
    run = tmp_path / "run.h5"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    pid = int(dead.stdout)
    record = {"pid": pid, "host": socket.gethostname(), "nonce": "old"}
    lease_path(run).write_text(json.dumps(record))
    with pytest.warns(RecoveryWarning, match=f"process {pid} .* no longer runs"):
        lease = WriterLease.acquire(run)
    assert json.loads(lease_path(run).read_text())["pid"] == os.getpid()
    lease.release()
    assert not lease_path(run).exists()


def test_a_holder_on_another_host_is_not_second_guessed(tmp_path, monkeypatch):
    _no_flock(monkeypatch)
    run = tmp_path / "run.h5"
    lease_path(run).write_text(json.dumps({"pid": 1, "host": "elsewhere", "nonce": "x"}))
    with pytest.raises(StoreError, match="if that process is gone, delete"):
        WriterLease.acquire(run)


def test_flock_tells_a_dead_holder_at_once(tmp_path):
    run = tmp_path / "run.h5"
    lease_path(run).write_text(json.dumps({"pid": 1, "host": "elsewhere", "nonce": "x"}))
    # nobody holds an flock on it: its holder is gone, wherever it ran
    with pytest.warns(RecoveryWarning):
        WriterLease.acquire(run).release()
