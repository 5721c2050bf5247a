"""Benches cannot rot: every ``scripts/bench_*.py`` and ``scripts/stress_*.py`` runs at
``--smoke`` size and prints its figures.

The scripts are found by glob, so a new bench is picked up without touching this file; one
without ``--smoke`` fails (argparse refuses the flag). Each runs as its own process, the way
a user runs it, from the repository root. A smoke run's figures are not expected to meet
the goals; only that the script finishes (exit 0) and prints them in its usual format.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
BENCHES = sorted([*SCRIPTS.glob("bench_*.py"), *SCRIPTS.glob("stress_*.py")])
TIMEOUT = 300  # s; a smoke run takes seconds, this only catches a hang on a loaded machine

NUM = r"[-+]?(?:\d[\d,]*\.?\d*(?:e[-+]?\d+)?|nan)"
LAST_LINE = {
    "bench_calibration": r"goal after calibration: median relative conductance error < 0\.5 %",
    "bench_campaign": (
        rf"campaign speed-up: {NUM} \(1 worker {NUM} s, 2 workers {NUM} s\); "
        r"results identical: (yes|no)"
    ),
    "bench_crash": (
        r"crash points: \d+ tried, 0 unresumable, 0 silently different, 0 lost arrays; "
        r"write faults: \d+ tried, 0 crashes"
    ),
    "bench_defects": r"goals: >= 0\.99 shorts and opens, .*",
    "bench_fuzz": (
        r"fuzzed: \d+ cases, 0 crashes, 0 hangs, 0 unnamed messages, 0 input files changed"
    ),
    "bench_instruments": r"hostile starts: \d+ tried, \d+ unsafe, \d+ wrong readings",
    "bench_interop": r"interop: \d+ of \d+ pairs ok",
    "bench_lab": r"characterisation efficiency: \d\.\d{3}",
    "bench_lab_switching": (
        rf"switching die lab time: {NUM} h \(floor {NUM} h, efficiency {NUM}\); "
        rf"Vc0 err {NUM} %, Delta err {NUM} %, coverage {NUM} %"
    ),
    "bench_live": (
        rf"live view: overhead {NUM} % wall time \(target <= 5 %\), latency max {NUM} s "
        r"\(target <= 1 s\): (ok|MISSED)"
    ),
    "bench_sim": r"   UNCERTAIN +\d+ devices called uncertain .*",
    "bench_switching": r"total wall time \d+ s",
    "bench_training": (
        rf"total wall time {NUM} s; projected 36 dies x 3 seeds: {NUM} s per profile "
        r"\(goal < 300 s on 2 cores\): (OK|OVER)"
    ),
    "stress_defects": r"└─+(┴─+)+┘",
    "stress_flaw_fuzz": (
        r"flaw fuzz: \d+ dies, 0 crashes, \d+ refused, \d+ profiles refused, "
        r"\d+ confidently wrong"
    ),
}
"""The exact format of each bench's last line (a bench not listed: any non-empty line)."""

FIGURES = {
    "bench_calibration": [
        rf"median \|dG_P\|/G_P +{NUM}% +{NUM}%",
        rf"misclassification rate +{NUM}% +{NUM}%",
    ],
    "bench_campaign": [
        rf"plain loop \(no engine\): +{NUM} s",
        r"campaign, 2 workers, kill: ",
        r"digests equal to the plain loop, killed \+ rerun: ",
    ],
    "bench_defects": [
        rf"sense offsets 1 uA +│ +{NUM}/{NUM} │",
        r"Bayes limit",
        r"reliability of defect calls",
        r"resistive opens",
    ],
    "bench_instruments": [r"start state +keithley2400"],
    "bench_interop": [r"x  virtual keithley2400 +measure +"],
    "bench_lab": [
        *(rf"(?m)^{s} +\d+ arrays +{NUM} s" for s in ("fast", "scan")),
        # the die given (SMOKE_ARGS), measured in process the same: not one device apart
        r"(?m)^same die \(lot 31, die 5\) in process: 0 of 625 devices classified "
        r"differently; \d+ defects found$",
    ],
    "bench_profile_fit": [r"within their stated 95 % interval of the realised truth"],
    "bench_sim": [
        rf"in memory +best +{NUM} s +median +{NUM} s",
        rf"ratio {NUM}",
        rf"(?m)^simulator read, network inputs: {NUM}x bare matmul$",
        rf"(?m)^simulator read: {NUM}x bare matmul$",
        rf"(?m)^whole-die characterisation in memory: {NUM} s \(CPU {NUM} s\)$",
        rf"(?m)^die switching in the simulator: {NUM} s \(CPU {NUM} s; goal < 60 s\)$",
        rf"STUCK_AP +\d+ +{NUM} +{NUM}",
    ],
    "bench_switching": [
        rf"Vc0 +\d+ +{NUM}% +{NUM}%",
        r"2\. Fitted profile",
        r"stat-aware accuracy",
        rf"virtual lab, one array: modelled lab time {NUM} s",
    ],
    "bench_training": [
        r"\| profile \| software \| unaware \| unaware, placed \| defect-aware \| defect-aware \+ comp\. \| statistics-aware \| lea \| "
        r"lea \+ statistics-aware \| lea \+ recal\. \| statistics-aware \+ recal\. \| "
        r"lea \+ stats \+ recal\. \|",
        rf"\| 1t1r-early-process \| {NUM} % \| {NUM} pt \(\d+/\d+\) \|",
        rf"1t1r-20k +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM} +{NUM}",
    ],
    "stress_defects": [
        r"two sizes x1\.6, one read voltage",
        r"wrong at conf",
        r"geometry 1 x 4 x 4",
        r"passive 15 x 15",
        rf"sense offsets 1 uA +│ +(-|{NUM}/{NUM}) │ +{NUM}/{NUM} │",
    ],
}
"""Figure lines each bench prints besides its last line (searched anywhere in its output)."""

NEVER = {"bench_crash": [r"left behind after the resume"]}
"""Lines a bench must not print (a finding its last line does not count)."""

FAST = {"bench_defects", "bench_sim", "stress_defects"}
"""Benches whose smoke run takes at most about 3 s (the others are marked slow)."""


def _param(path: Path) -> pytest.param:
    marks = () if path.stem in FAST else (pytest.mark.slow,)
    return pytest.param(path, id=path.stem, marks=marks)


def run_script(args: list[str]) -> subprocess.CompletedProcess[str]:
    """Run ``python *args`` from the repository root; output captured as text."""
    # the live bench's page server at the bench's own priority: among the suite's workers a
    # niced one waits tens of seconds for the CPU (the full bench measures it niced)
    env = {**os.environ, "PYTHONIOENCODING": "utf-8", "MPLBACKEND": "Agg", "MTJ_HIL_LIVE_NICE": "0"}
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        encoding="utf-8",
        errors="replace",
        timeout=TIMEOUT,
    )


def _explain(proc: subprocess.CompletedProcess[str]) -> str:
    """Exit code and the tails of both streams, for a failure message."""
    return (
        f"exit {proc.returncode}\n--- stdout (tail)\n{proc.stdout[-3000:]}\n"
        f"--- stderr (tail)\n{proc.stderr[-3000:]}"
    )


def test_benches_are_found() -> None:
    assert len(BENCHES) >= 10, BENCHES
    assert set(LAST_LINE) <= {b.stem for b in BENCHES}, "a format names a bench that is gone"
    assert set(FIGURES) | set(NEVER) <= {b.stem for b in BENCHES}, "a bench that is gone"


SOLO = {
    "bench_crash": "test_bench_crash_smoke.py",
    "bench_campaign": "test_bench_campaign_smoke.py",
    "bench_instruments": "test_bench_hardware_smoke.py",
    "bench_switching": "test_bench_hardware_smoke.py",
    "bench_live": "test_bench_live_training_smoke.py",
    "bench_training": "test_bench_live_training_smoke.py",
}
"""The longest smoke runs, each checked from a file of its own: the suite's workers take a
file each (``--dist loadfile``), so these run beside the others instead of after them."""


@pytest.mark.parametrize("script", [_param(b) for b in BENCHES if b.stem not in SOLO])
def test_bench_smoke(script: Path) -> None:
    check_smoke(script)


def test_the_solo_benches_are_checked_in_their_files() -> None:
    for stem, name in SOLO.items():
        assert (SCRIPTS / f"{stem}.py").exists(), stem
        assert f'"{stem}.py"' in (Path(__file__).with_name(name)).read_text(), (stem, name)


def solo_smoke(*stems: str) -> object:
    """The smoke test of ``stems`` for a file of its own (see :data:`SOLO`)."""

    @pytest.mark.slow
    @pytest.mark.parametrize("stem", stems)
    def test_solo_bench_smoke(stem: str) -> None:
        check_smoke(SCRIPTS / f"{stem}.py")

    return test_solo_bench_smoke


SMOKE_ARGS = {"bench_lab": ["--lot", "31", "--die", "5"]}
"""More arguments of a bench's smoke run: the lab bench measures a die it was not tuned for
(``--lot``/``--die`` pick another die of the station's profile)."""


def check_smoke(script: Path) -> None:
    """Run ``script --smoke``: exit 0, its last line and figures in their format."""
    args = [str(script.relative_to(ROOT)), "--smoke", *SMOKE_ARGS.get(script.stem, [])]
    proc = run_script(args)
    assert proc.returncode == 0, _explain(proc)
    lines = [line for line in proc.stdout.splitlines() if line.strip()]
    assert lines, _explain(proc)
    pattern = LAST_LINE.get(script.stem)
    if pattern is not None:
        assert re.fullmatch(pattern, lines[-1]), f"last line {lines[-1]!r} !~ {pattern!r}"
    for figure in FIGURES.get(script.stem, []):
        assert re.search(figure, proc.stdout), f"no line matching {figure!r}\n{_explain(proc)}"
    for finding in NEVER.get(script.stem, []):
        assert not re.search(finding, proc.stdout), _explain(proc)


@pytest.mark.slow
def test_interop_smoke_reports_a_missing_client_library() -> None:
    """Without qcodes the interop bench still runs and says which pairs it could not try."""
    code = (
        "import runpy, sys\n"
        "sys.modules['qcodes'] = None  # as if not installed\n"
        "sys.path.insert(0, 'scripts')\n"
        "sys.argv = ['scripts/bench_interop.py', '--smoke']\n"
        "runpy.run_path('scripts/bench_interop.py', run_name='__main__')\n"
    )
    proc = run_script(["-c", code])
    assert proc.returncode == 0, _explain(proc)
    missing = r"qcodes Keithley2602B fastsweep +x  virtual keithley2600 +open +missing: qcodes"
    assert re.search(missing, proc.stdout), _explain(proc)
    assert "NOT TRIED qcodes Keithley2602B fastsweep: its library 'qcodes'" in proc.stdout
    assert "UNATTRIBUTED" not in proc.stdout, _explain(proc)
    last = proc.stdout.splitlines()[-1]
    assert re.fullmatch(LAST_LINE["bench_interop"], last), last


def _smoke_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("_smoke", SCRIPTS / "_smoke.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser()
    parser.add_argument("--dies", type=int, default=36)
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--skip-lab", action="store_true")
    return parser


def test_smoke_only_replaces_defaults() -> None:
    smoke = _smoke_module()
    overrides = {"dies": 1, "skip_lab": True}
    full = smoke.parse_args(_parser(), overrides, [])
    assert (full.dies, full.seeds, full.skip_lab, full.smoke) == (36, 2, False, False)
    small = smoke.parse_args(_parser(), overrides, ["--smoke"])
    assert (small.dies, small.seeds, small.skip_lab, small.smoke) == (1, 2, True, True)
    explicit = smoke.parse_args(_parser(), overrides, ["--dies", "3", "--smoke"])
    assert explicit.dies == 3
    assert smoke.describe(overrides) == "--dies 1 --skip-lab"


def test_smoke_refuses_an_override_of_no_option() -> None:
    smoke = _smoke_module()
    with pytest.raises(ValueError, match="dise"):
        smoke.parse_args(_parser(), {"dise": 1}, ["--smoke"])
