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


def test_write_station_never_overwrites_a_file_lab_serve_did_not_write(tmp_path, capsys):
    run = tmp_path / "run.h5"
    run.write_bytes(b"\x89HDF\r\n\x1a\n a measured die")  # e.g. a run file, given by mistake
    assert main(["lab", "serve", "--seconds", "0.1", "--write-station", str(run)]) == 4
    assert run.read_bytes() == b"\x89HDF\r\n\x1a\n a measured die"
    err = " ".join(capsys.readouterr().err.split())
    assert f"--write-station {run}: the file exists and is not a station file" in err
    served = tmp_path / "served.toml"
    for _ in range(2):  # an earlier served station file is replaced
        assert main(["lab", "serve", "--seconds", "0.1", "--write-station", str(served)]) == 0
    assert served.read_text().startswith("# Written by mtj-hil lab serve")
    assert main(["lab", "serve", "--seconds", "-1", "--write-station", str(served)]) == 2


def test_write_station_makes_its_folders_and_refuses_before_the_lab_starts(tmp_path, capsys):
    nested = tmp_path / "new" / "deeper" / "served.toml"
    assert main(["lab", "serve", "--seconds", "0.1", "--write-station", str(nested)]) == 0
    assert nested.read_text().startswith("# Written by mtj-hil lab serve")
    capsys.readouterr()
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    target = blocker / "served.toml"
    assert main(["lab", "serve", "--seconds", "0.1", "--write-station", str(target)]) == 4
    captured = capsys.readouterr()
    assert "serving" not in captured.out  # refused before any instrument was served
    assert f"{blocker} is a file, not a folder" in " ".join(captured.err.split())
