"""The ``switching`` campaign kind: a small switching group completes, is summarised in the
status and report, resumes an interrupted die, and refuses bad plans naming the key."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.engine import run_campaign
from mtj_hil.campaigns.index import CampaignIndex
from mtj_hil.campaigns.kinds.switching import digest
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.runs.jobs.switching import plan_from_record, run_switching
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.sim import SimulatedChip

SWITCHING = """
[campaign]
name = "sw"
out_dir = "out"

[[task]]
name = "sw"
kind = "switching"
dies = "{dies}"
arrays = "0-1"
widths = [1e-6]
amplitudes = [0.5, 0.6, 0.7, 0.8, 0.9]
trials = 6
probe_trials = 2
floor_trials = 4
disturb_reads = 10
{extra}
"""


def _write(folder: Path, dies: str = "0-1", extra: str = "") -> Path:
    path = folder / "sw.toml"
    path.write_text(SWITCHING.format(dies=dies, extra=extra))
    return path


@pytest.mark.slow
def test_switching_group_completes_resumes_and_is_reported(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    spec = load_campaign(_write(tmp_path))
    assert [t.id for t in spec.tasks] == ["sw/die0", "sw/die1"]
    task1 = spec.task("sw/die1")
    plan = plan_from_record(task1.params["plan"])
    assert plan.arrays == (0, 1) and plan.widths == (1e-6,)

    outcome = run_campaign(spec)
    assert outcome.completed == ["sw/die0", "sw/die1"] and not outcome.failed
    reference = digest(task1.run_file)

    # Die 1 is interrupted after its first array, as a killed worker leaves it: the run file
    # unfinished and its index record still "running" without a checksum.
    def stop(done: int, total: int, array: int) -> None:
        if done == 1:
            raise KeyboardInterrupt

    part = tmp_path / "part.h5"
    with pytest.raises(KeyboardInterrupt):
        run_switching(
            SimulatedChip.from_lot("1t1r-20k", 0, 1),
            part,
            die_id=task1.params["die_id"],
            plan=plan,
            seed=0,
            progress=stop,
        )
    shutil.move(part, task1.run_file)
    CampaignIndex(spec.index_path).update("sw/die1", status="running", checksum="")
    again = run_campaign(load_campaign(_write(tmp_path)))
    assert again.skipped == ["sw/die0"] and again.completed == ["sw/die1"]
    with RunFile.open(task1.run_file, "r") as f:
        assert f.status == "completed" and f.attrs["resumed"]
    assert digest(task1.run_file) == reference  # the numbers of the uninterrupted run

    rec = CampaignIndex(spec.index_path).records()
    for tid in ("sw/die0", "sw/die1"):
        s = rec[tid]["summary"]
        assert s["AP"]["n"] > 300 and 0.5 < s["AP"]["vc"] < 1.0 and 10 < s["AP"]["delta"] < 80
        assert s["P"]["n"] > 300 and s["AP"]["vc_sd"] > 0 and "delta_sigma_rel" in s["AP"]
    third = run_campaign(load_campaign(_write(tmp_path)))
    assert third.skipped == ["sw/die0", "sw/die1"] and not third.completed

    assert main(["campaign", "status", str(tmp_path / "sw.toml")]) == 0
    assert main(["campaign", "report", str(tmp_path / "sw.toml")]) == 0
    assert "switching (to AP / to P)" in capsys.readouterr().out
    md = (tmp_path / "out" / "report" / "report.md").read_text()
    assert "## Switching: sw" in md and "Vc0 to AP median (V)" in md
    lines = (tmp_path / "out" / "report" / "sw-switching.csv").read_text().splitlines()
    assert lines[0].startswith("die,devices fitted") and len(lines) == 3


@pytest.mark.parametrize(
    ("extra", "key"),
    [
        ("", None),
        ("tau0 = -1", "task[0].tau0"),
        ("bogus = 1", "task[0].bogus"),
    ],
)
def test_bad_switching_plans_name_the_key(tmp_path: Path, extra: str, key: str | None) -> None:
    if key is None:
        load_campaign(_write(tmp_path))
        return
    with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
        load_campaign(_write(tmp_path, extra=extra))


def test_grid_outside_the_envelope_is_refused_at_load(tmp_path: Path) -> None:
    path = _write(tmp_path)
    path.write_text(path.read_text().replace("[1e-6]", "[1e-12]"))
    with pytest.raises(ConfigError, match=r"task\[0\]\.widths"):
        load_campaign(path)
    path.write_text(path.read_text().replace("[1e-12]", "[1e-6]").replace("0.9]", "1.6]"))
    with pytest.raises(ConfigError, match=r"task\[0\]\.amplitudes"):
        load_campaign(path)


def test_plan_settings_added_later_keep_a_completed_campaign_complete(tmp_path: Path) -> None:
    """A switching task that completed before ``decision_exclude`` / ``precision_margin``
    existed keeps its parameters' hash (they are left out at the library's default), and a
    task runs them at the library's default, not at the old-run-file reading (0)."""
    from mtj_hil.campaigns.kinds.switching import LATER_SETTINGS, task_plan
    from mtj_hil.protocols.switching.procedure import SwitchingPlan

    (task,) = load_campaign(_write(tmp_path, dies="0")).tasks
    assert not set(LATER_SETTINGS) & set(task.params["plan"])
    plan = plan_from_record(task_plan(task.params["plan"]))
    for key in LATER_SETTINGS:
        assert getattr(plan, key) == getattr(SwitchingPlan, key) != 0
    # a setting at another value than the default is kept (and so changes the hash)
    from mtj_hil.campaigns.kinds.switching import task_plan_record
    from mtj_hil.runs.jobs.switching import plan_record

    record = plan_record(plan_from_record(task_plan({**task.params["plan"]})))
    record["decision_exclude"] = 0.0
    assert task_plan_record(record)["decision_exclude"] == 0.0


def test_a_campaign_setting_outside_the_envelope_exits_6_as_on_the_command_line(tmp_path):
    """``campaign check`` exited 3 for ``amplitudes = [2.0]`` or ``read_voltage = 0.5`` where
    ``mtj-hil switching --amplitudes 2`` exits 6 (the safety envelope); a setting refused for
    another reason is still a configuration error (3)."""
    from mtj_hil.cli import main

    head = '[campaign]\nname = "c"\nout_dir = "out"\n\n[[task]]\nname = "t"\n'
    cases = {
        'kind = "switching"\ndies = "0"\namplitudes = [2.0]\n': 6,
        'kind = "characterize"\ndies = "0"\nread_voltage = 0.5\n': 6,
        'kind = "characterize"\ndies = "0"\ncycles = 0\n': 3,
    }
    for body, code in cases.items():
        path = tmp_path / "c.toml"
        path.write_text(head + body)
        assert main(["campaign", "check", str(path)]) == code, body


@pytest.mark.parametrize("name", ["campaign.h5", "campaign.h5.lock", "report"])
def test_a_group_may_not_take_a_name_the_campaign_writes_itself(tmp_path, name):
    """A group named ``campaign.h5`` passed ``campaign check``; ``run`` then failed (its
    folder is the index file)."""
    path = tmp_path / "c.toml"
    path.write_text(
        f'[campaign]\nname = "c"\nout_dir = "out"\n\n[[task]]\nname = "{name}"\n'
        'kind = "characterize"\ndies = "0"\n'
    )
    with pytest.raises(ConfigError, match=r"task\[0\]\.name .* choose another name"):
        load_campaign(path)


def test_an_out_dir_that_is_a_file_is_refused_when_the_campaign_loads(tmp_path):
    """``campaign check`` passed (exit 0); ``campaign run`` then failed (exit 4)."""
    (tmp_path / "out").write_text("a file")
    path = tmp_path / "c.toml"
    path.write_text(
        '[campaign]\nname = "c"\nout_dir = "out"\n\n[[task]]\nname = "lot"\n'
        'kind = "characterize"\ndies = "0"\n'
    )
    with pytest.raises(ConfigError, match="out_dir .* is a file, not a folder"):
        load_campaign(path)
