"""Rounds of re-measurement given with re-measurement off (``remeasure_cycles`` 0) are
refused instead of being ignored, by the command (exit 2, naming both options), the
library's plan check and the Python API (``SettingRefused`` naming both keys); left out,
they keep working as before, and stored plans that carry them still resume."""

from __future__ import annotations

import pytest

import mtj_hil
from mtj_hil.cli.main import main
from mtj_hil.protocols import MemorySink, characterize_die
from mtj_hil.protocols.characterize.plan import (
    CharacterizationPlan,
    check_plan,
    plan_from_record,
    plan_record,
)
from mtj_hil.protocols.errors import SettingRefused
from mtj_hil.sim import SimulatedChip


def test_the_command_refuses_rounds_without_cycles_and_makes_no_file(tmp_path, capsys):
    out = tmp_path / "r.h5"
    argv = ["characterize", "--die", "1", "--arrays", "0", "--cycles", "1", "--no-report"]
    code = main([*argv, "--remeasure-cycles", "0", "--remeasure-rounds", "3", "--out", str(out)])
    err = " ".join(capsys.readouterr().err.split())
    assert code == 2, err
    assert "Error: --remeasure-rounds 3 works with re-measurement only" in err
    assert "--remeasure-cycles 0 turns re-measurement off" in err
    assert not out.exists()
    # left out, the rounds stay at their default and the run goes ahead as before
    assert main([*argv, "--remeasure-cycles", "0", "--out", str(out)]) == 0
    # with cycles, rounds are taken
    out2 = tmp_path / "r2.h5"
    assert main([*argv, "--remeasure-rounds", "3", "--out", str(out2)]) == 0


def test_the_plan_check_and_the_api_refuse_the_same_before_measuring(tmp_path):
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 1)
    plan = CharacterizationPlan(arrays=(0,), remeasure_cycles=0, remeasure_rounds=3)
    with pytest.raises(SettingRefused, match="remeasure_rounds=3 works with") as info:
        check_plan(chip.layout, plan)
    assert info.value.setting == "remeasure_rounds"
    assert "remeasure_cycles=0 turns re-measurement off" in str(info.value)
    sink = MemorySink()
    with pytest.raises(SettingRefused):
        characterize_die(chip, sink, plan)
    assert sink.completed_arrays() == []
    out = tmp_path / "api.h5"
    die = mtj_hil.simulated_die(1)
    with pytest.raises(SettingRefused, match="remeasure_rounds=3"):
        mtj_hil.characterize(die, out, arrays=[0], remeasure_cycles=0, remeasure_rounds=3)
    assert not out.exists()
    # the defaults (or rounds 0, "none" as well) with re-measurement off are fine
    for rounds in (CharacterizationPlan.remeasure_rounds, 0):
        check_plan(chip.layout, CharacterizationPlan(remeasure_cycles=0, remeasure_rounds=rounds))


def test_stored_plans_with_rounds_but_no_cycles_still_resume():
    layout = SimulatedChip.from_lot("1t1r-20k", 0, 1).layout
    # a run started before the refusal stored the rounds it ignored
    plan = CharacterizationPlan(arrays=(0,), remeasure_cycles=0, remeasure_rounds=3)
    stored = plan_record(plan.resolved(layout))
    check_plan(layout, plan_from_record(stored))
    # a file from before re-measurement existed stores neither
    old = {"arrays": [0], "cycles": 1, "reads": 1, "read_voltage": 0.1, "pulse": None}
    plan = plan_from_record(old)
    assert plan.remeasure_cycles == 0
    check_plan(layout, plan)
