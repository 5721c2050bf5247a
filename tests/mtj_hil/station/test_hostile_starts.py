"""Every SMU driver opened against its virtual instrument left in a hostile state.

No mocks: the virtual instruments of ``mtj_hil.sim.lab`` speak each dialect and record what
reached their terminals. For each (driver, start state) the open must end in the verified
known state (or refuse with a named reason), the die must read as its physics, a list sweep
and a forced compliance must come out right, and nothing unsafe may reach the terminals.
"""

from __future__ import annotations

import pytest

from mtj_hil.sim.lab import SMU_DIALECTS
from mtj_hil.sim.lab.smu.channel import Applied
from mtj_hil.testing.hostile_start import _judge_history, starts_for, try_hostile_start

CASES = [(d, s) for d in SMU_DIALECTS for s in starts_for(d)]


@pytest.mark.parametrize(("driver", "start"), CASES, ids=[f"{d}-{s}" for d, s in CASES])
@pytest.mark.slow
def test_hostile_start_ends_in_the_known_state_or_a_named_refusal(driver, start):
    result = try_hostile_start(driver, start)
    assert not result.unsafe, result.outcome
    assert not result.wrong, result.outcome
    if start == "tsp-language":
        assert result.refused
        assert "*LANG SCPI" in result.outcome and "power-cycle" in result.outcome
    else:
        assert result.outcome == "known state", result.outcome
        assert "25 lines read equal to the die" in result.details[0]


def test_the_judge_flags_a_current_source_and_a_rise_beyond_the_envelope():
    on_curr = Applied(0.0, True, "CURR", 1e-3, terminal=2.0)
    assert "CURR source" in _judge_history([on_curr], 0.3, 0.0)
    rise = [Applied(0.2, True, terminal=0.2), Applied(0.4, True, terminal=0.4)]
    assert "0.4 V" in _judge_history(rise, 0.3, 0.0)
    ramp_down = [Applied(v, True, terminal=v) for v in (0.45, 0.4, 0.35, 0.3, 0.0)]
    assert _judge_history(ramp_down, 0.3, 0.5) is None
    assert _judge_history([Applied(0.5, True, terminal=0.5)], 0.3, 0.0) is not None
