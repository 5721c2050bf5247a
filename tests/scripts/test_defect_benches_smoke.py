"""The defect and fit-profile benches run end to end at --smoke (seconds each)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[2] / "scripts"
pytestmark = pytest.mark.slow


@pytest.fixture(autouse=True)
def _scripts_on_path(monkeypatch):
    monkeypatch.syspath_prepend(str(SCRIPTS))
    yield
    for name in ("bench_defects", "stress_defects", "bench_profile_fit", "defect_cases"):
        sys.modules.pop(name, None)


def test_bench_defects_smoke(capsys):
    import bench_defects

    bench_defects.main(["--smoke"])
    out = capsys.readouterr().out
    assert "Bayes limit" in out and "reliability of defect calls" in out
    assert "resistive opens" in out and "sense offsets" in out


def test_stress_defects_smoke(capsys):
    import stress_defects

    stress_defects.main(["--smoke"])
    out = capsys.readouterr().out
    assert "two sizes x1.6, one read voltage" in out and "wrong at conf" in out


def test_bench_profile_fit_smoke(capsys):
    import bench_profile_fit

    bench_profile_fit.main(["--smoke"])
    out = capsys.readouterr().out
    assert "within their stated 95 % interval of the realised truth" in out
