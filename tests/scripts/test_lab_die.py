"""The virtual-lab benches' die options (``--profile``/``--lot``/``--die``): a die that does
not fit the station file ends the bench with a usage error naming it, before any lab is
built; a profile file is read from where the user gave it."""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "scripts"))

from _lab_die import add_die_options, lab_die  # noqa: E402


def _parse(argv: list[str]) -> tuple[str, int, int]:
    parser = argparse.ArgumentParser(prog="bench")
    add_die_options(parser)
    return lab_die(parser.parse_args(argv), parser)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--profile", "passive-15x15"], "calibration.rows"),
        (["--profile", "no-such-profile"], "unknown profile"),
        (["--die", "-1"], "virtual_lab.die = -1"),
        (["--lot", "-3"], "virtual_lab.lot_seed = -3"),
    ],
)
def test_a_die_the_station_cannot_take_is_a_usage_error(argv, named, capsys):
    with pytest.raises(SystemExit) as exc:
        _parse(argv)
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert named in err and "does not fit the station file" in err and "Traceback" not in err


def test_a_profile_file_is_read_from_where_it_was_given(tmp_path, monkeypatch):
    shutil.copy(ROOT / "mtj_hil" / "sim" / "profiles" / "1t1r-low-tmr.toml", tmp_path / "mine.toml")
    monkeypatch.chdir(tmp_path)
    profile, lot, die = _parse(["--profile", "mine.toml", "--lot", "2", "--die", "3"])
    assert Path(profile) == tmp_path / "mine.toml" and (lot, die) == (2, 3)
    assert _parse([])[0] == "1t1r-20k"  # the station's own profile, by name


@pytest.mark.parametrize("script", ["bench_lab.py", "bench_lab_switching.py"])
def test_the_benches_refuse_such_a_die_without_a_traceback(script):
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / script), "--profile", "passive-15x15"],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert done.returncode == 2, done.stderr
    assert "calibration.rows" in done.stderr and "Traceback" not in done.stderr
