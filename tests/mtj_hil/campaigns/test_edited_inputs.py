"""A campaign notices an edited profile or station file: the same profile name and lot seed
with other values is another die population, so a finished task whose file changed is
refused (as ``characterize --resume`` refuses an edited profile), never mixed into the lot."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.campaigns import Task, load_campaign
from mtj_hil.campaigns.engine import run_campaign
from mtj_hil.campaigns.task import _hash
from mtj_hil.errors import ConfigError
from mtj_hil.sim.profile import PROFILE_DIR

CAMPAIGN = """
[campaign]
name = "edited"
out_dir = "out"

[[task]]
name = "lot"
kind = "characterize"
profile = "small.toml"
dies = "{dies}"
arrays = "0"
cycles = 1
"""


def _write(folder: Path, dies: str, r_p: float) -> Path:
    text = (PROFILE_DIR / "1t1r-20k.toml").read_text()
    text = text.replace("n_arrays = 32", "n_arrays = 2", 1)
    text = text.replace("r_p_median = 4292.0", f"r_p_median = {r_p}", 1)
    (folder / "small.toml").write_text(text)
    path = folder / "c.toml"
    path.write_text(CAMPAIGN.format(dies=dies))
    return path


def test_an_edited_profile_file_is_a_changed_task(tmp_path):
    assert run_campaign(load_campaign(_write(tmp_path, "0", 4292.0))).ok
    same = load_campaign(_write(tmp_path, "0-1", 4292.0))  # untouched file: one more die
    assert run_campaign(same).ok
    edited = load_campaign(_write(tmp_path, "0-2", 3000.0))
    with pytest.raises(ConfigError, match="task lot/die0 changed since it completed"):
        run_campaign(edited)
    assert not (tmp_path / "out" / "lot" / "die2.h5").exists()


def test_a_record_from_before_file_digests_still_matches(tmp_path):
    params = {"die": 0, "profile": "p.toml", "file_digests": {"p.toml": "ab" * 32}}
    task = Task("lot/die0", "characterize", "lot", tmp_path / "die0.h5", params)
    legacy = _hash("characterize", tmp_path / "die0.h5", {"die": 0, "profile": "p.toml"})
    assert task.matches(task.params_hash()) and task.matches(legacy)
    other = {**params, "file_digests": {"p.toml": "cd" * 32}}
    assert not task.matches(
        Task("lot/die0", "characterize", "lot", task.run_file, other).params_hash()
    )


def test_a_file_edited_after_the_campaign_was_loaded_measures_nothing_with_it(tmp_path):
    # the digests are taken when the campaign loads, the worker reads the file when its
    # task runs: dies measured after an edit were recorded as of the old file
    from mtj_hil.campaigns.kinds.characterize import task_chip

    spec = load_campaign(_write(tmp_path, "0-1", 4292.0))
    _write(tmp_path, "0-1", 3000.0)  # edited while the campaign runs
    changed = "small.toml changed since the campaign was loaded"
    with pytest.raises(ConfigError, match=changed), task_chip(spec.tasks[1].params):
        pass
    outcome = run_campaign(spec)  # every task refuses, none measures with the new file
    assert not outcome.completed and len(outcome.failed) == 2
    assert not any((tmp_path / "out" / "lot").glob("*.h5"))
