"""A stop signal while the command is still loading (a second or two of imports) ends it
quietly with the shell's status, as one during the run does: it printed a
``KeyboardInterrupt`` traceback (Ctrl-C) or ended without a word (SIGTERM)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

MTJ_HIL = Path(sys.executable).with_name("mtj-hil")


def _wait_until_caught(pid: int, sig: int, timeout: float = 20.0) -> None:
    """Wait until process ``pid`` catches ``sig`` (its ``SigCgt`` mask in /proc): sent
    earlier, on a loaded machine, it met Python's defaults, not the launcher's handler."""
    status = Path(f"/proc/{pid}/status")
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in status.read_text().splitlines():
            if line.startswith("SigCgt:") and int(line.split()[1], 16) >> (sig - 1) & 1:
                return
        time.sleep(0.005)
    raise AssertionError(f"process {pid} never installed a handler for signal {sig}")


@pytest.mark.skipif(not MTJ_HIL.exists(), reason="the mtj-hil script is not installed here")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_a_stop_while_the_command_loads_ends_it_quietly(tmp_path, sig):
    out = tmp_path / "r.h5"
    proc = subprocess.Popen(
        [str(MTJ_HIL), "characterize", "--arrays", "0", "--out", str(out)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    # the launcher catches the four at once, SIGQUIT last (Python catches SIGINT itself
    # from the start): once SIGQUIT is caught its handlers are in; the command still loads
    _wait_until_caught(proc.pid, signal.SIGQUIT)
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert "Traceback" not in err and "KeyboardInterrupt" not in err, err
    assert not out.exists()
