"""Other projects' unmodified drivers (pymeasure, QCoDeS) and ours against the virtual lab.

Each client opens the virtual instrument of its model over pyvisa-py, measures a device the
virtual board routes to the SMU, and must read the die's current within its read noise.
"""

from __future__ import annotations

import importlib.util

import pytest

from mtj_hil.testing.interop import CLIENTS, _agree, run_pair
from mtj_hil.testing.interop_clients import PEER_BUGS

KNOWN_BAD = {name for name, *_ in PEER_BUGS}


@pytest.mark.parametrize("name", [n for n in CLIENTS if n not in KNOWN_BAD])
def test_unmodified_client_measures_the_die_through_its_virtual_instrument(name):
    pytest.importorskip(CLIENTS[name].module)
    result = run_pair(name)
    assert result.ok, result.ops
    assert set(result.ops) >= {"open", "configure", "errors", "shutdown"}
    assert {"measure", "sweep"} & set(result.ops)


@pytest.mark.parametrize("name", sorted(KNOWN_BAD))
def test_a_failing_pair_is_the_named_peer_bug(name):
    pytest.importorskip(CLIENTS[name].module)
    result = run_pair(name)
    assert not result.ok
    assert result.fault is not None, result


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
def test_qcodes_2450_refuses_an_instrument_booted_in_tsp():
    result = run_pair("qcodes Keithley2450", start="tsp-language")
    assert not result.ok  # its constructor sees *LANG? = TSP and adds no parameters


def test_the_matrix_covers_every_driver_family():
    # every pair runs above, one test each; the bench's own line runs at --smoke in
    # tests/scripts/test_benches.py (running the whole bench here only repeated them)
    assert len(CLIENTS) >= 15
    assert {"pymeasure", "qcodes", "mtj-hil"} <= {name.split()[0] for name in CLIENTS}
