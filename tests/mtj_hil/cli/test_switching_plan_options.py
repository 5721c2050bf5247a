"""The switching plan's decision-read and information-placement settings reach the plan from
the command and the library with the library's defaults; one the plan would not use, a
value out of range or a changed one on --resume is refused (exit 2, naming the option)
before anything is measured."""

from __future__ import annotations

import re

import pytest

import mtj_hil
from mtj_hil.cli.main import main
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.switching.procedure import SwitchingPlan
from mtj_hil.protocols.switching.settings import DECISION_ONLY, PLACEMENT_ONLY

SMALL = ["--die", "1", "--arrays", "0", "--widths", "1e-6", "--amplitudes", "0.6,0.8"]
SMALL += ["--floor-trials", "0", "--disturb-reads", "0", "--no-report"]
SETTINGS = ("decision_bound", *DECISION_ONLY, *PLACEMENT_ONLY)


@pytest.fixture
def plans(monkeypatch):
    """The plans the command and the library would measure (nothing is measured)."""
    seen = []
    monkeypatch.setattr(
        "mtj_hil.runs.jobs.switching.run_switching",
        lambda chip, target, *, plan, **kwargs: seen.append(plan),
    )
    monkeypatch.setattr("mtj_hil.cli.switching.summarise_switching", lambda path: None)
    return seen


def test_left_out_they_are_the_librarys_defaults(tmp_path, plans):
    assert main(["switching", *SMALL, "--out", str(tmp_path / "a.h5")]) == 0
    mtj_hil.measure_switching(
        mtj_hil.simulated_die(1), tmp_path / "b.h5", arrays=[0], widths=[1e-6],
        amplitudes=[0.6, 0.8],
    )  # fmt: skip
    for plan in plans:
        for name in SETTINGS:
            assert getattr(plan, name) == getattr(SwitchingPlan, name), name


def test_given_they_reach_the_plan(tmp_path, plans):
    decisions = ["--decision-bound", "1e-4", "--decision-exclude", "0.25"]
    decisions += ["--precision-margin", "3"]
    placed = ["--placement", "information", "--target-vc", "0.02", "--target-delta", "0.2"]
    placed += ["--done-fraction", "0.5", "--placement-batch", "4", "--placement-budget", "64"]
    assert main(["switching", *SMALL, *decisions, "--out", str(tmp_path / "d.h5")]) == 0
    assert main(["switching", *SMALL, *placed, "--out", str(tmp_path / "p.h5")]) == 0
    d, p = plans
    assert (d.decision_bound, d.decision_exclude, d.precision_margin) == (1e-4, 0.25, 3.0)
    assert (p.placement, p.target_vc, p.target_delta, p.done_fraction) == (
        "information", 0.02, 0.2, 0.5,
    )  # fmt: skip
    assert (p.placement_batch, p.placement_budget) == (4, 64)
    mtj_hil.measure_switching(
        mtj_hil.simulated_die(1), tmp_path / "l.h5", arrays=[0], widths=[1e-6],
        amplitudes=[0.6, 0.8], placement="information", target_vc=0.03, placement_budget=32,
        decision_bound=1e-3, precision_margin=1.0,
    )  # fmt: skip
    lib = plans[-1]
    assert (lib.placement, lib.target_vc, lib.placement_budget) == ("information", 0.03, 32)
    assert (lib.decision_bound, lib.precision_margin) == (1e-3, 1.0)


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--target-vc", "0.02"],
         "--target-vc 0.02 works with information placement only; --placement grid measures "
         "a fixed grid (leave it out, or add --placement information)"),
        (["--placement-budget", "64"], "--placement-budget 64 works with information placement"),
        (["--decision-bound", "0", "--precision-margin", "3"],
         "--precision-margin 3.0 works with decision reads only; --decision-bound 0 reads every "
         "trial with precision reads"),
        (["--decision-bound", "0", "--decision-exclude", "0.2"],
         "--decision-exclude 0.2 works with decision reads only"),
        (["--placement", "information", "--placement-batch", "100", "--placement-budget", "50"],
         "--placement-batch 100 is more than --placement-budget 50"),
        (["--decision-bound", "0.5"], "'--decision-bound': 0.5 is not in the range 0<=x<0.5"),
        (["--target-delta", "1"], "'--target-delta': 1.0 is not in the range 0<x<1"),
    ],
)  # fmt: skip
def test_refused_before_anything_is_measured(tmp_path, capsys, plans, extra, message):
    out = tmp_path / "sw.h5"
    assert main(["switching", *SMALL, *extra, "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert message in err and "Traceback" not in err
    assert not plans and not out.exists()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"target_vc": 0.02}, "target_vc=0.02 works with information placement only"),
        ({"decision_bound": 0.0, "decision_exclude": 0.3},
         "decision_exclude=0.3 works with decision reads only"),
        ({"placement": "information", "trials": 8},
         "trials=8 works with grid placement only"),
    ],
)  # fmt: skip
def test_the_library_refuses_the_same(tmp_path, plans, kwargs, message):
    die = mtj_hil.simulated_die(1)
    common = {"arrays": [0], "widths": [1e-6], "amplitudes": [0.6, 0.8]}
    with pytest.raises(InvalidRequest, match=re.escape(message)):
        mtj_hil.measure_switching(die, tmp_path / "x.h5", **kwargs, **common)
    assert not plans and not (tmp_path / "x.h5").exists()


def _interrupted(out, monkeypatch, drop=()):
    """A two-array switching run stopped after its first array; its stored plan without the
    settings ``drop`` (as a run file written before them)."""
    from mtj_hil.runs.jobs import switching as job
    from mtj_hil.sim import SimulatedChip

    plan = SwitchingPlan(
        arrays=(0, 1), amplitudes=(0.6, 0.8), widths=(1e-6,), trials=2, probe_trials=2,
        floor_trials=0, disturb_reads=0,
    )  # fmt: skip
    record = job.plan_record
    with monkeypatch.context() as m:
        m.setattr(job, "plan_record", lambda p: {
            k: v for k, v in record(p).items() if k not in drop})  # fmt: skip

        def stop(done, total, array):
            raise KeyboardInterrupt

        chip = SimulatedChip.from_lot("1t1r-20k", 0, 1)
        with pytest.raises(KeyboardInterrupt):
            job.run_switching(
                chip, out, die_id="sim:1t1r-20k:lot0:die1", plan=plan, seed=0, progress=stop
            )


RESUME = ["switching", "--die", "1", "--resume", "--no-report", "--out"]


def test_resume_refuses_a_changed_setting_and_takes_the_stored_one(tmp_path, capsys, monkeypatch):
    out = tmp_path / "run.h5"
    _interrupted(out, monkeypatch)
    capsys.readouterr()
    assert main([*RESUME, str(out), "--decision-bound", "1e-3"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "--decision-bound 0.001 (stored: 1e-06)" in err
    assert main([*RESUME, str(out), "--decision-bound", "1e-6"]) == 0


@pytest.mark.parametrize(
    ("option", "what"),
    [(["--decision-bound", "1e-3"], "decision reads"),
     (["--placement", "information", "--target-vc", "0.02"], "information placement")],
)  # fmt: skip
def test_resume_of_a_file_older_than_a_setting_says_so(tmp_path, capsys, monkeypatch, option, what):
    out = tmp_path / "old.h5"
    _interrupted(out, monkeypatch, drop=("decision_bound", "placement", "target_vc"))
    capsys.readouterr()
    assert main([*RESUME, str(out), *option]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"was written before run files recorded {what}" in err and "Traceback" not in err
    assert main([*RESUME, str(out)]) == 0  # without it: finished with the stored plan


def test_a_campaign_task_takes_them(switching_campaign):
    from mtj_hil.campaigns import load_campaign
    from mtj_hil.campaigns.kinds.switching import task_plan
    from mtj_hil.runs.jobs.switching import plan_from_record

    path = switching_campaign('placement = "information"\ntarget_vc = 0.02\n'
                              "placement_budget = 64\nprecision_margin = 3.0")  # fmt: skip
    plan = plan_from_record(task_plan(load_campaign(path).tasks[0].params["plan"]))
    assert (plan.placement, plan.target_vc, plan.placement_budget) == ("information", 0.02, 64)
    assert plan.precision_margin == 3.0
    plan = plan_from_record(task_plan(load_campaign(switching_campaign()).tasks[0].params["plan"]))
    for name in ("placement", *SETTINGS):
        assert getattr(plan, name) == getattr(SwitchingPlan, name), name


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("target_vc = 0.02",
         "task[0].target_vc is refused: target_vc = 0.02 works with information placement "
         "only; placement = 'grid' measures a fixed grid"),
        ("decision_bound = 0.0\ndecision_exclude = 0.3",
         "task[0].decision_exclude is refused: decision_exclude = 0.3 works with decision "
         "reads only"),
        ('placement = "information"\ntrials = 8',
         "task[0].trials is refused: trials = 8 works with grid placement only"),
        ('placement = "information"\nplacement_batch = 100\nplacement_budget = 50',
         "task[0].placement_budget"),
    ],
)  # fmt: skip
def test_a_campaign_refuses_the_same_at_load(switching_campaign, extra, message):
    from mtj_hil.campaigns import load_campaign
    from mtj_hil.errors import ConfigError

    with pytest.raises(ConfigError, match=re.escape(message)):
        load_campaign(switching_campaign(extra))
