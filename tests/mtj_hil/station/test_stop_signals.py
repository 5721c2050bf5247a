"""Every stop signal ends a station run safely: SIGINT, SIGTERM, SIGHUP and SIGQUIT sent to
``mtj-hil characterize`` on the virtual lab leave the SMU output off, the board reset, the
run recorded as aborted (resumable) and the documented exit status 128 + signal number.

The lab runs in this test process and serves the CLI (a separate process) over loopback
sockets, so what the instruments were left in is seen after that process has gone.
"""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.runs.store import load_characterization
from mtj_hil.station.connect import station_virtual_lab
from mtj_hil.station.files import station_from_dict

STATION = Path(__file__).parents[3] / "stations" / "virtual-lab.toml"
CLI = "import sys; from mtj_hil.cli import main; sys.exit(main())"


@pytest.fixture
def served(station_dict, tmp_path):
    """The virtual lab serving on loopback and a station file pointing at it."""
    station = station_from_dict(station_dict, STATION)
    lab = station_virtual_lab(
        station, smu_dialect="keithley2400", smu_start="power-on", smu_channel=None
    )
    with lab:
        text = STATION.read_text()
        text = text.replace('url = "virtual"', f'url = "{lab.controller_url}"')
        text = text.replace('resource = "virtual"', f'resource = "{lab.smu_resource}"')
        text = text.replace(
            'dir = "calibrations/virtual-lab"', f'dir = "{station_dict["calibration"]["dir"]}"'
        )
        path = tmp_path / "served.toml"
        path.write_text(text)
        yield lab, path


@pytest.mark.slow
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT])
def test_stop_signal_turns_the_smu_off_resets_the_board_and_records_the_run(served, tmp_path, sig):
    lab, station = served
    out = tmp_path / "run.h5"
    args = ["characterize", "--station", str(station), "--die-id", "sim-die7"]
    args += ["--arrays", "0-31", "--cycles", "3", "--no-report", "--out", str(out)]
    proc = subprocess.Popen(
        [sys.executable, "-c", CLI, *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    parts = out.with_name(out.name + ".parts")
    deadline = time.monotonic() + 120
    while not parts.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)  # wait for the first finished array: the run is under way
    assert proc.poll() is None, proc.communicate()
    assert lab.smu.output, "the sense SMU should be on while the run measures"
    proc.send_signal(sig)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + sig, err
    assert signal.Signals(sig).name in err or sig == signal.SIGINT, err
    assert not lab.smu.output, "SMU output left on"
    state = lab.board._state
    assert not state.rows.any() and not state.cols.any() and not np.any(state.vread)
    run = load_characterization(out)
    assert run.attrs["status"] == "aborted"
    name = "Ctrl-C" if sig == signal.SIGINT else signal.Signals(sig).name
    assert name in run.attrs["status_reason"]
    assert 1 <= len(run.arrays_done) < 32
