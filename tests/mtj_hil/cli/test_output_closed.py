"""A reader that closes the output early (``mtj-hil profiles | head -1``) ends the command as
SIGPIPE would, exit status 141 and no message, never as an unexpected error (1)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

MTJ_HIL = Path(sys.executable).with_name("mtj-hil")


@pytest.mark.skipif(not MTJ_HIL.exists(), reason="the mtj-hil script is not installed here")
@pytest.mark.parametrize("args", [["profiles"], ["examples", "--help"]])
def test_a_reader_that_left_ends_the_command_quietly(args):
    proc = subprocess.Popen([str(MTJ_HIL), *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # the reader is gone before the first line is written
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 141, err
    assert "error" not in err and "Traceback" not in err, err


@pytest.mark.skipif(
    not MTJ_HIL.exists() or not Path("/dev/full").exists(), reason="needs mtj-hil and /dev/full"
)
def test_output_to_a_full_disk_is_a_write_error_not_an_unexpected_one():
    with open("/dev/full", "wb") as full:
        proc = subprocess.run(
            [str(MTJ_HIL), "profiles"], stdout=full, stderr=subprocess.PIPE, timeout=120
        )
    err = proc.stderr.decode()
    assert proc.returncode == 4, err
    assert "cannot write: No space left on device" in err and "unexpected" not in err


@pytest.mark.skipif(not MTJ_HIL.exists(), reason="the mtj-hil script is not installed here")
def test_show_of_a_run_whose_writer_was_killed_names_no_unknown_pid(tmp_path):
    """After kill -9 the writer's lease is tidied away when the file is opened, so its pid is
    not known: show said 'the writer, pid ? on host, is gone'."""
    import signal
    import time

    out = tmp_path / "run.h5"
    proc = subprocess.Popen(
        [str(MTJ_HIL), "characterize", "--cycles", "3", "--no-report", "--out", str(out)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not out.exists() and time.monotonic() < deadline:
        time.sleep(0.02)
    time.sleep(0.3)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    shown = subprocess.run(
        [str(MTJ_HIL), "show", str(out)], capture_output=True, text=True, timeout=120
    )
    text = shown.stdout + shown.stderr
    assert "is gone" in text or "completed" in text, text
    assert "pid ?" not in text and "?," not in text, text


@pytest.mark.skipif(not MTJ_HIL.exists(), reason="the mtj-hil script is not installed here")
def test_a_command_started_with_its_output_closed_says_so():
    # `mtj-hil profiles >&-` printed nothing and exited 0: the listing was lost unseen
    proc = subprocess.run(
        f"'{MTJ_HIL}' profiles >&-", shell=True, capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 4, proc.stderr
    assert "standard output is closed" in proc.stderr
