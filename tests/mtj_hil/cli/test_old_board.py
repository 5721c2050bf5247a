"""A controller board too old for board-side sequences (firmware before 1.3): the command
runs them one command at a time and says so once, on the terminal and in the run file."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import h5py
import pytest

from mtj_hil.cli.main import main

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"
SAID = "runs no board-side sequences"


@pytest.mark.parametrize("command", ["characterize", "switching"])
def test_an_old_board_is_named_once_on_stderr_and_once_in_the_run_file(
    tmp_path, capsys, old_board, command
):
    out = tmp_path / f"{command}.h5"
    args = [command, "--station", str(STATION), "--arrays", "0", "--out", str(out)]
    if command == "switching":
        args += ["--widths", "1e-6", "--amplitudes", "0.7", "--trials", "1"]
        args += ["--probe-trials", "1", "--floor-trials", "0", "--disturb-reads", "0"]
    assert main([*args, "--no-report"]) == 0
    err = [" ".join(line.split()) for line in capsys.readouterr().err.split("warning")]
    said = [line for line in err if SAID in line]
    assert len(said) == 1, err
    assert "firmware 1.1.0" in said[0] and "need firmware 1.3" in said[0]
    assert "one command at a time, slower" in said[0] and "station 'virtual-lab'" in said[0]
    with h5py.File(out, "r") as h5:
        events = [json.loads(raw)["text"] for raw in h5["timeline/events"][()]]
    assert sum(SAID in text for text in events) == 1, events


def test_a_message_for_the_user_is_printed_once_outside_a_run_too():
    """No logging handler anywhere (no run recording): the warning alone reaches stderr,
    not also logging's last-resort handler."""
    code = (
        "import logging\n"
        "from mtj_hil.errors import FallbackWarning, tell_user\n"
        "tell_user(logging.getLogger('mtj_hil.station.chip'), 'board too old', FallbackWarning)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stderr.count("board too old") == 1, done.stderr
    assert "FallbackWarning" in done.stderr


@pytest.mark.slow
def test_a_calibration_warning_is_printed_once(tmp_path):
    """A station without a calibration record: the command says so on one line (before,
    logging's last-resort handler printed it a second time, bare)."""
    station = tmp_path / "virtual-lab.toml"
    station.write_text(STATION.read_text())  # its calibration folder: none beside it
    out = tmp_path / "c.h5"
    args = ["characterize", "--station", str(station), "--arrays", "0", "--cycles", "1"]
    done = subprocess.run(
        [sys.executable, "-m", "mtj_hil", *args, "--out", str(out), "--no-report"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    said = [line for line in done.stderr.splitlines() if "no calibration record" in line]
    assert len(said) == 1 and said[0].startswith("warning (CalibrationWarning)"), done.stderr
    # and it names the command that makes one, for this station (it said '--station FILE')
    assert said[0].endswith(f"measure one with: mtj-hil calibrate --station {station}")
