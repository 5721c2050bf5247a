"""scripts/bench_fuzz.py --smoke runs and prints its one figure line."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "bench_fuzz.py"


def test_bench_fuzz_smoke():
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--seed", "5"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert re.fullmatch(
        r"fuzzed: 12 cases, 0 crashes, 0 hangs, 0 unnamed messages\n", done.stdout
    ), done.stdout + done.stderr
    assert done.returncode == 0
