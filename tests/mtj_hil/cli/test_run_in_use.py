"""A run file another process writes: a second ``--resume`` (or a run with that ``--out``)
is refused before anything is opened, naming the writer; a writer stopped with Ctrl-Z or
SIGSTOP is said to be stopped (it never ends while stopped). Before, the second resume
opened the bench, reset its instruments under the first one, and only then was refused."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import pytest

import mtj_hil.cli.common as common
from mtj_hil.cli.main import main


@pytest.fixture
def held_run(tmp_path):
    path = tmp_path / "run.h5"
    code = textwrap.dedent(
        f"""
        import time
        from mtj_hil.runs.store.runfile import RunFile
        run = RunFile.create({str(path)!r}, "characterization", die_id="sim:1t1r-20k:lot0:die0",
                             extra={{"plan": {{}}, "layout": {{}}}})
        print("writing", flush=True)
        time.sleep(120)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "writing"
    yield path, proc
    proc.kill()
    proc.wait(10)


def _opened(monkeypatch) -> list:
    opened = []
    monkeypatch.setattr(common, "open_die", lambda *a, **k: opened.append(a) or 1 / 0)
    return opened


@pytest.mark.parametrize("resume", [True, False])
def test_a_run_being_written_is_refused_before_the_die_is_opened(
    held_run, monkeypatch, capsys, resume
):
    path, proc = held_run
    opened = _opened(monkeypatch)
    args = ["characterize", "--arrays", "0", "--out", str(path), "--no-report"]
    assert main([*args, "--resume"] if resume else args) == 4
    said = " ".join(capsys.readouterr().err.split())
    assert f"is being written by process {proc.pid}" in said and "wait for it to end" in said
    assert not opened


def _wait_stopped(pid: int, timeout: float = 10.0) -> None:
    """Wait until ``pid`` shows as stopped (state T) in /proc: on a loaded machine the
    SIGSTOP takes effect a little after ``kill`` returns."""
    import time
    from pathlib import Path

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        stat = Path(f"/proc/{pid}/stat").read_text()
        if stat.rsplit(")", 1)[1].split()[0] in ("T", "t"):
            return
        time.sleep(0.01)
    raise AssertionError(f"process {pid} did not stop")


def test_a_stopped_writer_is_said_to_be_stopped(held_run, capsys):
    path, proc = held_run
    os.kill(proc.pid, signal.SIGSTOP)
    _wait_stopped(proc.pid)  # a signal is delivered when the kernel schedules it
    try:
        assert main(["characterize", "--arrays", "0", "--out", str(path), "--resume"]) == 4
    finally:
        os.kill(proc.pid, signal.SIGCONT)
    said = " ".join(capsys.readouterr().err.split())
    assert "is stopped (Ctrl-Z or SIGSTOP)" in said and f"kill -CONT {proc.pid}" in said


def test_a_run_that_completes_while_show_reads_it_is_not_called_interrupted(
    held_run, monkeypatch, capsys
):
    """``show`` read the status ("running") and only then asked whether a writer held the
    run: a writer that finished in between read as gone, and ``show`` said the run was
    interrupted and to resume it. The writer is now asked about first."""
    from mtj_hil.runs.store.runfile import RunFile

    path, _ = held_run
    # the writer finishes just after show has read the status
    monkeypatch.setattr(RunFile, "held", property(lambda self: False))
    main(["show", str(path)])
    out = " ".join(capsys.readouterr().out.split())
    assert "interrupted" not in out
    assert "being written now" in out
