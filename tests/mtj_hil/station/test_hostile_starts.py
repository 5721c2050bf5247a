"""Every SMU driver opened against its virtual instrument left in a hostile state, faults
mid-run, and the mutation check that proves the bench can fail.

No mocks: the virtual instruments of ``mtj_hil.sim.lab`` speak each dialect and record what
reached their terminals and the settings of every point they measured. For each (driver,
start state) the open must end in the verified known state (or refuse with a named reason),
the die must read as its physics, a list sweep and a forced compliance must come out right,
and nothing unsafe may reach the terminals. The full matrices are ``slow``; a sample runs
always.
"""

from __future__ import annotations

import pytest

from mtj_hil.sim.lab import SMU_DIALECTS
from mtj_hil.sim.lab.smu.channel import Applied, Point
from mtj_hil.sim.lab.smu.keithley2400 import Keithley2400
from mtj_hil.testing.hostile_faults import faults_for, try_midrun
from mtj_hil.testing.hostile_judge import Expected, judge_history, judge_points
from mtj_hil.testing.hostile_start import starts_for, try_hostile_start
from mtj_hil.testing.mutations import mutations, try_mutation

REFUSED = {"tsp-language": "*LANG SCPI", "line-frequency": "mains frequency"}
SAMPLE = ("power-on", "last-user", "remote-sense", "other-channel-current", "line-frequency")
CASES = [(d, s) for d in SMU_DIALECTS for s in starts_for(d)]
FAST = [c for c in CASES if c[1] in SAMPLE]
SLOW = [pytest.param(*c, marks=pytest.mark.slow) for c in CASES if c[1] not in SAMPLE]
FAULT_CASES = [(d, f) for d in SMU_DIALECTS for f in faults_for(d)]


@pytest.mark.parametrize(("driver", "start"), FAST + SLOW)
def test_hostile_start_ends_in_the_known_state_or_a_named_refusal(driver, start):
    result = try_hostile_start(driver, start)
    assert not result.unsafe, result.outcome
    assert not result.wrong, result.outcome
    if start in REFUSED:
        assert result.refused and REFUSED[start] in result.outcome, result.outcome
    else:
        assert result.outcome == "known state", result.outcome
        assert any("25 lines read equal to the die" in d for d in result.details)


def test_there_are_at_least_a_hundred_cases():
    assert len(CASES) + len(FAULT_CASES) >= 100


@pytest.mark.parametrize(
    ("driver", "fault"),
    [
        c if c[1] == "power cycle mid-read" else pytest.param(*c, marks=pytest.mark.slow)
        for c in FAULT_CASES
    ],
)
def test_a_fault_mid_run_stops_the_run_and_records_nothing_after_it(driver, fault):
    """Every fault is named as the instrument leaving its known state, also where the
    measurement itself got no reply (a reset 2400 answers ``:READ?`` with error +803 only):
    a lost state, not a bus problem."""
    result = try_midrun(driver, fault)
    assert result.outcome.startswith("stopped"), result.outcome
    assert "left its known state" in result.outcome, result.outcome


@pytest.mark.parametrize("driver", SMU_DIALECTS)
def test_removing_the_reset_from_a_driver_is_caught(driver):
    assert "reset" in mutations(driver)
    result = try_mutation(driver, "reset")
    assert result.caught_by is not None, result


@pytest.mark.slow
@pytest.mark.parametrize("driver", SMU_DIALECTS)
def test_every_known_state_command_is_load_bearing(driver):
    missed = [step for step in mutations(driver) if try_mutation(driver, step).caught_by is None]
    assert not missed


def test_the_judge_flags_a_current_source_and_a_rise_beyond_the_envelope():
    on_curr = Applied(0.0, True, "CURR", 1e-3, terminal=2.0)
    assert "CURR source" in judge_history([on_curr], 0.3, {})
    rise = [Applied(0.2, True, terminal=0.2), Applied(0.4, True, terminal=0.4)]
    assert "0.4 V" in judge_history(rise, 0.3, {})
    ramp_down = [Applied(v, True, terminal=v) for v in (0.45, 0.4, 0.35, 0.3, 0.0)]
    assert judge_history(ramp_down, 0.3, {"1": 0.5}) is None
    assert judge_history([Applied(0.5, True, terminal=0.5)], 0.3, {}) is not None
    # each channel ramps down from its own found level
    other = [Applied(4.9, True, channel="2", terminal=4.9), Applied(0.0, True, channel="1")]
    assert judge_history(other, 0.3, {"2": 5.0}) is None
    assert judge_history(other, 0.3, {"1": 5.0}) is not None


GOOD = {
    "nplc": 2.0, "line_frequency": 60.0, "terminals": "FRON", "remote_sense": False,
    "filter": None, "rel": None, "autozero": True, "source_delay": 0.001,
    "trigger_delay": 0.0, "auto_off": False, "i_range": None, "limit_i": 1e-3,
    "limit_v": 21.0, "ovp": 20.0, "v_range": 2.0, "v_range_auto": False,
}  # fmt: skip
EXP = Expected(0.3, 1e-3, 2.0, None, 60.0)


@pytest.mark.parametrize(
    ("change", "verdict"),
    [
        ({}, None),
        ({"terminals": "REAR"}, "wrong reading"),
        ({"remote_sense": True}, "wrong reading"),
        ({"filter": ("MOV", 10)}, "wrong reading"),
        ({"rel": 1e-6}, "wrong reading"),
        ({"nplc": 1.0}, "wrong reading"),
        ({"autozero": False}, "wrong reading"),
        ({"v_range_auto": True}, "wrong reading"),
        ({"limit_i": 1.0}, "unsafe"),
        ({"ovp": 210.0}, "unsafe"),
        ({"auto_on": True}, "unsafe"),
    ],
)
def test_the_judge_reads_the_settings_of_every_point(change, verdict):
    point = Point(0.1, 1e-6, 0.0, conditions={**GOOD, **change})
    found = judge_points([point], EXP, Keithley2400)
    assert (found[0] if found else None) == verdict, found
