"""Other projects' unmodified drivers (pymeasure, QCoDeS) and ours against the virtual lab.

Each client opens the virtual instrument of its model over pyvisa-py, measures a device the
virtual board routes to the SMU, and must read the die's current within its read noise.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from mtj_hil.testing.interop import CLIENTS, _agree, run_pair

ROOT = Path(__file__).resolve().parents[4]


@pytest.mark.parametrize("name", list(CLIENTS))
@pytest.mark.slow
def test_unmodified_client_measures_the_die_through_its_virtual_instrument(name):
    pytest.importorskip(CLIENTS[name].module)
    result = run_pair(name)
    assert result.ok, result.ops
    assert set(result.ops) >= {"open", "configure", "measure", "errors", "shutdown"}


def test_the_reading_check_can_fail():
    check = _agree((1e-5, 1e-8))
    check(1e-5 + 4e-8)
    with pytest.raises(AssertionError, match="die gives"):
        check(1.1e-5)


@pytest.mark.parametrize(
    ("name", "failing"),
    [
        ("pymeasure Keithley2600", "measure"),  # binary format.data left by the last user
        ("qcodes Keithley2450", "measure"),  # REAL format left by the last user
        ("pymeasure Keithley2400", "errors"),  # stale errors the driver never cleared
    ],
)
def test_a_client_that_trusts_the_start_state_is_caught(name, failing):
    pytest.importorskip(CLIENTS[name].module)
    result = run_pair(name, start="last-user")
    assert not result.ok
    assert result.ops[failing] != "ok"


@pytest.mark.skipif(importlib.util.find_spec("qcodes") is None, reason="qcodes not installed")
@pytest.mark.slow
def test_qcodes_2450_refuses_an_instrument_booted_in_tsp():
    result = run_pair("qcodes Keithley2450", start="tsp-language")
    assert not result.ok  # its constructor sees *LANG? = TSP and adds no parameters


@pytest.mark.slow
def test_bench_script_ends_with_the_matrix_line():
    out = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "bench_interop.py")],
        capture_output=True, text=True, check=True, timeout=300,
    ).stdout.strip().splitlines()  # fmt: skip
    assert out[-1].startswith("interop: ") and out[-1].endswith(f"of {len(CLIENTS)} pairs ok")
    assert sum(" x  virtual " in line for line in out) >= 5 * len(CLIENTS) - 5
