"""The kill-at-every-write bench at --smoke: kills before a spread of the write points of a
characterisation, a switching run, a campaign and a calibration record, and write faults
(ENOSPC, EFBIG, EIO, EROFS) at two points of each; every run resumes to the reference."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[3] / "scripts" / "bench_crash.py"
LINE = re.compile(
    r"^crash points: (\d+) tried, (\d+) unresumable, (\d+) silently different, "
    r"(\d+) lost arrays; write faults: (\d+) tried, (\d+) crashes$"
)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("cc") is None, reason="the crash shim needs a C compiler")
def test_bench_crash_smoke_ends_with_zeros() -> None:
    proc = subprocess.run(
        [sys.executable, str(BENCH), "--smoke"],
        capture_output=True,
        text=True,
        timeout=1800,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.strip().splitlines()
    m = LINE.match(lines[-1])
    assert m, lines[-1]
    tried, unresumable, different, lost, faults, crashes = map(int, m.groups())
    assert tried >= 15 and faults >= 20
    assert (unresumable, different, lost, crashes) == (0, 0, 0, 0), "\n".join(lines)
    assert not any("left behind" in line for line in lines), "\n".join(lines)
