"""Switching trial settings the plan would not use, or would have to change, are refused
(the command: exit 2 naming the option; the library: InvalidRequest; a campaign: at load,
naming task[i].key), all through ``probe_trials_for``, instead of being capped or ignored
silently. A setting left out still takes its default (a small --trials alone works)."""

from __future__ import annotations

import re

import pytest

import mtj_hil
from mtj_hil.campaigns import load_campaign
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.runs.jobs.switching import plan_from_record

SMALL = ["--die", "1", "--arrays", "0", "--widths", "1e-6", "--amplitudes", "0.6,0.8"]
SMALL += ["--floor-trials", "0", "--disturb-reads", "0", "--no-report"]


@pytest.fixture
def plans(monkeypatch):
    """The plans the command and the library would measure (nothing is measured)."""
    seen = []

    def record(chip, target, *, plan, **kwargs):
        seen.append(plan)

    monkeypatch.setattr("mtj_hil.runs.jobs.switching.run_switching", record)
    monkeypatch.setattr("mtj_hil.cli.switching.summarise_switching", lambda path: None)
    return seen


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--trials", "8", "--probe-trials", "20"],
         "--probe-trials 20 is more than --trials 8: the probe trials are the first of each "
         "point's trials; allowed 1..8"),
        (["--no-adaptive", "--probe-trials", "2"],
         "--probe-trials 2 works with adaptive trials only; --no-adaptive spends every one of "
         "--trials 16 at each point"),
        (["--placement", "information", "--trials", "8"],
         "--trials 8 works with grid placement only; information placement places its own "
         "batches of trials and does not use it"),
        (["--placement", "information", "--no-adaptive"],
         "--no-adaptive works with grid placement only"),
    ],
)  # fmt: skip
def test_the_command_refuses_a_trial_option_it_would_cap_or_ignore(
    tmp_path, capsys, plans, extra, message
):
    out = tmp_path / "sw.h5"
    assert main(["switching", *SMALL, *extra, "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"Error: {message}" in err and "Traceback" not in err
    assert not plans and not out.exists()


def test_left_out_probe_trials_still_fit_a_small_trials_and_given_ones_are_kept(tmp_path, plans):
    runs = [
        ["--trials", "2"],  # the default 4 probe trials are lowered to 2, as before
        ["--trials", "8", "--probe-trials", "8"],
        ["--no-adaptive", "--trials", "3"],
        ["--placement", "information", "--probe-trials", "20"],  # was capped to 16
        ["--placement", "information"],
    ]
    for k, extra in enumerate(runs):
        assert main(["switching", *SMALL, *extra, "--out", str(tmp_path / f"{k}.h5")]) == 0
    assert [(p.trials, p.probe_trials) for p in plans] == [(2, 2), (8, 8), (3, 3), (16, 20),
                                                           (16, 4)]  # fmt: skip


def test_the_library_refuses_probe_trials_above_trials_and_keeps_the_default_working(
    tmp_path, plans
):
    die = mtj_hil.simulated_die(1)
    common = {"arrays": [0], "widths": [1e-6], "amplitudes": [0.6, 0.8]}
    with pytest.raises(InvalidRequest, match=re.escape("probe_trials=20 is more than trials=8")):
        mtj_hil.measure_switching(die, tmp_path / "a.h5", trials=8, probe_trials=20, **common)
    with pytest.raises(InvalidRequest, match="probe_trials=2 works with adaptive trials only"):
        mtj_hil.measure_switching(die, tmp_path / "b.h5", adaptive=False, probe_trials=2, **common)
    assert not plans and not (tmp_path / "a.h5").exists()
    mtj_hil.measure_switching(die, tmp_path / "c.h5", trials=2, **common)
    mtj_hil.measure_switching(die, tmp_path / "d.h5", trials=9, probe_trials=9, **common)
    assert [(p.trials, p.probe_trials) for p in plans] == [(2, 2), (9, 9)]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ("trials = 8\nprobe_trials = 20",
         "task[0].probe_trials is refused: probe_trials = 20 is more than trials = 8"),
        ("adaptive = false\nprobe_trials = 2",
         "task[0].probe_trials is refused: probe_trials = 2 works with adaptive trials only; "
         "adaptive = false spends"),
    ],
)  # fmt: skip
def test_a_campaign_refuses_the_same_at_load(switching_campaign, capsys, extra, message):
    path = switching_campaign(extra)
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_campaign(path)
    assert main(["campaign", "check", str(path)]) == 3
    assert message in " ".join(capsys.readouterr().err.split())


def test_a_campaign_leaving_probe_trials_out_still_takes_a_small_trials(switching_campaign):
    for extra, expected in (("trials = 2", 2), ("trials = 8\nprobe_trials = 8", 8),
                            ("adaptive = false\ntrials = 3", 3)):  # fmt: skip
        plan = plan_from_record(load_campaign(switching_campaign(extra)).tasks[0].params["plan"])
        assert plan.probe_trials == expected


def test_a_run_started_with_probe_trials_above_trials_still_resumes(tmp_path, monkeypatch, capsys):
    """Before --probe-trials above --trials was refused, such a run recorded its command line
    with both and its plan with the probe trials capped; the command its resume hint names
    finishes it."""
    import shlex

    from mtj_hil.protocols.switching.procedure import SwitchingPlan
    from mtj_hil.runs.jobs.switching import run_switching
    from mtj_hil.sim import SimulatedChip

    out = tmp_path / "old.h5"
    typed = ["switching", "--die", "1", "--arrays", "0,1", "--widths", "1e-6"]
    typed += ["--amplitudes", "0.6,0.8", "--floor-trials", "0", "--disturb-reads", "0"]
    typed += ["--no-report", "--trials", "2", "--probe-trials", "20", "--out", str(out)]
    plan = SwitchingPlan(
        arrays=(0, 1), amplitudes=(0.6, 0.8), widths=(1e-6,), trials=2, probe_trials=2,
        floor_trials=0, disturb_reads=0,
    )  # fmt: skip

    def stop(done, total, array):
        raise KeyboardInterrupt

    monkeypatch.setattr("sys.argv", ["mtj-hil", *typed])
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 1)
    with pytest.raises(KeyboardInterrupt):
        run_switching(chip, out, die_id="sim:1t1r-20k:lot0:die1", plan=plan, seed=0, progress=stop)
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = " ".join(capsys.readouterr().out.split())
    hint = re.search(r"mtj-hil (switching .*?--resume)", shown)
    assert hint and "--probe-trials 20" in hint.group(1)
    assert main(shlex.split(hint.group(1))) == 0
    # a new run is refused as before
    assert main([*typed[:-1], str(tmp_path / "new.h5")]) == 2
