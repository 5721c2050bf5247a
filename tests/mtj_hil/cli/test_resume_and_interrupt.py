"""Honest resume and interruption: a resume with changed options is refused naming each
difference; Ctrl-C and SIGTERM mark the run aborted and print the command that finishes it;
a run whose writer died is shown as interrupted; a run being written can be shown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from contextlib import contextmanager
from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store import RunFile


def _interrupt_after_first_array(monkeypatch, module: str) -> None:
    @contextmanager
    def progress(n_arrays):
        def callback(done, total, array):
            raise KeyboardInterrupt

        yield callback

    monkeypatch.setattr(f"mtj_hil.cli.{module}.array_progress", progress)


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def interrupted(tmp_path, monkeypatch, capsys):
    """A characterisation of 3 arrays at 2 cycles interrupted after its first array."""
    out = tmp_path / "run.h5"
    args = ["characterize", "--die", "2", "--arrays", "0-2", "--cycles", "2", "--no-report"]
    with monkeypatch.context() as m:
        _interrupt_after_first_array(m, "characterize")
        assert main([*args, "--out", str(out)]) == 130
    err = _squash(capsys.readouterr().err)
    return out, args, err


def test_ctrl_c_names_the_run_file_and_the_command_that_finishes_it(interrupted):
    out, args, err = interrupted
    assert f"interrupted: the run file {out} is aborted; finish it with: mtj-hil" in err
    assert f"--out {out} --resume" in err and "--cycles 2" in err
    with RunFile.open(out) as run:
        assert run.status == "aborted"


def test_resume_with_changed_options_is_refused_naming_each_difference(interrupted, capsys):
    out, args, _ = interrupted
    code = main(["characterize", "--die", "2", "--cycles", "3", "--arrays", "0-5",
                 "--out", str(out), "--resume", "--no-report"])  # fmt: skip
    assert code == 2
    err = _squash(capsys.readouterr().err)
    assert "--cycles 3 (stored: 2)" in err and "--arrays 0,1,2,3,4,5 (stored: 0,1,2)" in err
    with RunFile.open(out) as run:
        assert run.status == "aborted"  # nothing was touched


def test_resume_with_another_write_pulse_is_refused_not_ignored(interrupted, capsys):
    out, args, _ = interrupted  # started without a pulse: the die's nominal 1 V, 1 us
    resume = ["characterize", "--die", "2", "--out", str(out), "--resume", "--no-report"]
    assert main([*resume, "--pulse-amplitude", "0.8", "--pulse-width", "1e-7"]) == 2
    err = _squash(capsys.readouterr().err)
    assert (
        "--pulse-amplitude 0.8 (stored: 1)" in err and "--pulse-width 1e-07 (stored: 1e-06)" in err
    )
    with RunFile.open(out) as run:
        assert run.status == "aborted"  # nothing was touched
    assert main([*resume, "--pulse-amplitude", "1", "--pulse-width", "1e-6"]) == 0


def test_resume_without_options_uses_the_stored_plan_and_says_so(interrupted, capsys):
    out, args, _ = interrupted
    assert main(["characterize", "--die", "2", "--out", str(out), "--resume", "--no-report"]) == 0
    err = _squash(capsys.readouterr().err)
    said = err.index(f"resuming {out} with the plan stored in it")
    banner = err.index("characterising sim:1t1r-20k:lot0:die2: 3 arrays, 2 cycles per state")
    assert said < banner
    # the options as given again are accepted too
    with RunFile.open(out) as run:
        assert run.status == "completed"


def test_resuming_a_completed_run_is_refused_before_anything_is_opened(
    interrupted, capsys, monkeypatch
):
    out, args, _ = interrupted
    assert main(["characterize", "--die", "2", "--out", str(out), "--resume", "--no-report"]) == 0
    capsys.readouterr()

    def no_die(*a, **k):
        raise AssertionError("a die was opened")

    monkeypatch.setattr("mtj_hil.cli.characterize.open_die", no_die)
    before = out.read_bytes()
    assert main(["characterize", "--die", "2", "--out", str(out), "--resume", "--no-report"]) == 4
    captured = capsys.readouterr()
    err = _squash(captured.err)
    assert f"{out} is already completed; nothing to resume (see it with: mtj-hil show" in err
    assert "plan stored in it" not in err and "0/3" not in err  # no plan, no progress bar
    assert out.read_bytes() == before


def test_switching_resume_with_changed_options_is_refused(tmp_path, monkeypatch, capsys):
    out = tmp_path / "sw.h5"
    args = ["switching", "--arrays", "0-1", "--widths", "1e-7", "--trials", "4",
            "--disturb-reads", "0", "--no-report"]  # fmt: skip
    with monkeypatch.context() as m:
        _interrupt_after_first_array(m, "switching")
        assert main([*args, "--out", str(out)]) == 130
    capsys.readouterr()
    changed = [*args[:6], "40", *args[7:]]  # --trials 40
    assert main([*changed, "--out", str(out), "--resume"]) == 2
    assert "--trials 40 (stored: 4)" in _squash(capsys.readouterr().err)


def _start(tmp_path: Path, out: Path) -> subprocess.Popen:
    args = [sys.executable, "-m", "mtj_hil", "characterize", "--die", "1", "--cycles", "3",
            "--out", str(out), "--no-report"]  # fmt: skip
    proc = subprocess.Popen(
        args, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if out.exists():
            try:
                with RunFile.open(out) as run:
                    if "characterization/array_index" in run.h5:
                        return proc
            except Exception:  # noqa: BLE001 - not written far enough yet
                pass
        time.sleep(0.1)
    proc.kill()
    raise AssertionError("the run never wrote its first array")


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    out = tmp_path / "term.h5"
    proc = _start(tmp_path, out)
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 143, err  # 128 + SIGTERM, documented beside 130 for Ctrl-C
    err = _squash(err)
    assert "stopped by SIGTERM" in err and "--resume" in err and "Traceback" not in err
    with RunFile.open(out) as run:
        assert run.status == "aborted"
        assert run.attrs["status_reason"] == "stopped by SIGTERM"


def test_a_run_being_written_can_be_shown_and_a_killed_one_is_interrupted(tmp_path, capsys):
    out = tmp_path / "live.h5"
    proc = _start(tmp_path, out)
    try:
        assert main(["show", str(out)]) == 0
        text = _squash(capsys.readouterr().out)
        assert f"being written now by pid {proc.pid}" in text
    finally:
        os.kill(proc.pid, signal.SIGKILL)
        proc.communicate(timeout=30)
    assert main(["show", str(out)]) == 0
    text = _squash(capsys.readouterr().out)
    assert "interrupted: the run says 'running' but no process holds it" in text
    assert "it is being measured now" not in text  # its writer is gone: resume, not wait
    assert "finish it with: mtj-hil characterize --die 1 --cycles 3" in text
    assert f"--out {out} --no-report --resume" in text


@pytest.mark.parametrize("command", ["characterize", "switching"])
def test_resume_of_a_file_that_does_not_exist_says_to_leave_out_resume(tmp_path, capsys, command):
    out = tmp_path / "nothere.h5"
    assert main([command, "--die", "1", "--resume", "--out", str(out)]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert f"{out} does not exist: --resume finishes an interrupted run file" in err
    assert "leave out --resume" in err and not out.exists()


@pytest.mark.parametrize("content", [b"", b"notes, not a run\n"], ids=["empty", "text"])
def test_an_output_that_is_no_run_file_is_not_offered_a_resume(tmp_path, capsys, content):
    # "already exists; choose another --out, or finish it with --resume": the resume then
    # failed with a bare HDF5 message
    out = tmp_path / "taken.h5"
    out.write_bytes(content)
    assert main(["characterize", "--die", "1", "--arrays", "0", "--out", str(out)]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert "is no run this command can finish" in err and "choose another --out" in err
    assert "--resume" not in err
    assert out.read_bytes() == content


def test_a_run_being_written_is_not_offered_a_resume_it_would_refuse(tmp_path, capsys):
    """While its writer holds it, show and export say to wait: the resume they offered would
    be refused (the writer holds the file)."""
    from mtj_hil.protocols.characterize.plan import CharacterizationPlan
    from mtj_hil.runs.jobs.characterization import run_characterization
    from mtj_hil.sim import SimulatedChip

    out = tmp_path / "live.h5"
    seen: list[tuple[int, str, str]] = []

    def look(done: int, total: int, array: int) -> None:
        if done == 1 and not seen:  # one array stored, the writer still holds the file
            code = main(["show", str(out)])
            text = _squash(capsys.readouterr().out)
            assert code == 0
            code = main(["export", str(out), "--format", "csv", "--out", str(tmp_path / "x")])
            seen.append((code, text, _squash(capsys.readouterr().err)))

    chip = SimulatedChip.from_lot("1t1r-20k", 0, 1)
    plan = CharacterizationPlan(arrays=(0, 1), cycles=1)
    run_characterization(chip, out, die_id="d", plan=plan, progress=look)
    (code, text, err) = seen[0]
    assert "not classified yet: it is being measured now" in text
    assert "resume the run" not in text
    assert code == 4 and "being written now; wait for its writer to finish" in err
    assert "--resume" not in err
