"""A re-measurement budget given with re-measurement off (``remeasure_cycles`` 0) is
refused by the plan check and the Python API (``SettingRefused`` naming
``remeasure_budget``) instead of being ignored; the default (or 0) stays fine, and stored
plans that carry a budget without cycles still resume."""

from __future__ import annotations

import pytest

import mtj_hil
from mtj_hil.protocols import MemorySink, characterize_die
from mtj_hil.protocols.characterize.plan import (
    CharacterizationPlan,
    check_plan,
    plan_from_record,
    plan_record,
)
from mtj_hil.protocols.errors import SettingRefused
from mtj_hil.sim import SimulatedChip, load_profile

LAYOUT = load_profile("1t1r-20k").layout


def test_the_plan_check_refuses_a_budget_without_cycles_naming_it():
    plan = CharacterizationPlan(arrays=(0,), remeasure_cycles=0, remeasure_budget=0.1)
    with pytest.raises(SettingRefused, match="remeasure_budget=0.1 works with") as info:
        check_plan(LAYOUT, plan)
    assert info.value.setting == "remeasure_budget"
    assert "remeasure_cycles=0 turns re-measurement off" in str(info.value)


@pytest.mark.parametrize("budget", [CharacterizationPlan.remeasure_budget, 0.0])
def test_the_default_or_no_budget_without_cycles_is_fine(budget):
    check_plan(LAYOUT, CharacterizationPlan(remeasure_cycles=0, remeasure_budget=budget))


def test_a_budget_with_cycles_is_taken():
    check_plan(LAYOUT, CharacterizationPlan(remeasure_cycles=2, remeasure_budget=0.1))


def test_the_procedure_and_the_api_refuse_before_measuring(tmp_path):
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 1)
    sink = MemorySink()
    plan = CharacterizationPlan(arrays=(0,), remeasure_cycles=0, remeasure_budget=0.2)
    with pytest.raises(SettingRefused, match="remeasure_budget"):
        characterize_die(chip, sink, plan)
    assert sink.completed_arrays() == []
    out = tmp_path / "api.h5"
    with pytest.raises(SettingRefused, match="remeasure_budget=0.2"):
        mtj_hil.characterize(
            mtj_hil.simulated_die(1), out, arrays=[0], remeasure_cycles=0, remeasure_budget=0.2
        )
    assert not out.exists()


def test_stored_plans_with_a_budget_but_no_cycles_still_resume():
    plan = CharacterizationPlan(arrays=(0,), remeasure_cycles=0, remeasure_budget=0.2)
    check_plan(LAYOUT, plan_from_record(plan_record(plan.resolved(LAYOUT))))
