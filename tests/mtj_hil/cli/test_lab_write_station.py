"""``lab serve --write-station`` writes a station of the served dialect and start state,
which ``station check`` then passes."""

from __future__ import annotations

import subprocess
import sys
import time
import tomllib
from pathlib import Path

import pytest

from mtj_hil.cli.main import main

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"


@pytest.mark.parametrize(
    ("dialect", "start"), [("keithley2600", "last-user"), ("keysight_b2900", "power-on")]
)
def test_written_station_names_the_served_dialect_and_passes_station_check(
    tmp_path, capsys, dialect, start
):
    written = tmp_path / "elsewhere" / "served.toml"
    written.parent.mkdir()
    args = [sys.executable, "-m", "mtj_hil", "lab", "serve", "--station", str(STATION),
            "--smu-dialect", dialect, "--smu-start", start, "--write-station", str(written),
            "--seconds", "120"]  # fmt: skip
    lab = subprocess.Popen(args, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60
        while not written.exists() and time.monotonic() < deadline and lab.poll() is None:
            time.sleep(0.1)
        assert written.exists(), lab.stderr.read() if lab.poll() is not None else "no file"
        data = tomllib.loads(written.read_text())
        assert data["smu"]["sense"]["driver"] == dialect
        assert data["virtual_lab"]["smu_start"] == start
        assert data["controller"]["url"].startswith("socket://127.0.0.1:")
        assert main(["station", "check", str(written)]) == 0
        out = capsys.readouterr().out
        assert "all instruments checked" in out
    finally:
        lab.terminate()
        lab.communicate(timeout=30)
