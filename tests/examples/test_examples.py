"""The scripts in examples/ run, at the small size (``--small``), and leave their outputs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
OUTPUTS = {
    "first_die.py": [
        "die7.h5",
        "die7.nc",
        "die7-defects.png",
        "die7-resistance.png",
        "die7-defects.csv",
    ],
    "switching_and_profile.py": [
        "die1-switching.h5",
        "fitted.toml",
        "twin.h5",
        "die1-p-switch.png",
    ],
    "small_campaign.py": ["lot-campaign/lot.nc", "lot-campaign/runs/campaign.h5"],
}


def test_there_are_at_least_three_examples():
    scripts = sorted(p.name for p in EXAMPLES.glob("*.py") if not p.name.startswith("_"))
    assert scripts == sorted(OUTPUTS)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(OUTPUTS))
def test_example_runs_at_small_size(script: str, tmp_path: Path):
    env = {**os.environ, "MTJ_HIL_EXAMPLES_SIZE": "small", "MPLBACKEND": "Agg"}
    out = subprocess.run(
        [sys.executable, str(EXAMPLES / script), "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=600,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    for name in OUTPUTS[script]:
        assert (tmp_path / name).stat().st_size > 0, name
