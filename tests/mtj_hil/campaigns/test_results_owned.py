"""``campaign status``, ``campaign report`` and ``export`` of a campaign file show only that
file's results: an out_dir holding another campaign is refused (as ``campaign run`` refuses
it), and tasks measured with settings the file no longer has are ``changed``, not done."""

from __future__ import annotations

import pytest

from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.dataset import campaign_dataset
from mtj_hil.campaigns.engine import run_campaign
from mtj_hil.campaigns.results import write_report
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError, StoreError

from .conftest import write_campaign


@pytest.fixture(scope="module")
def ran(tmp_path_factory):
    folder = tmp_path_factory.mktemp("owned")
    first = write_campaign(folder, name="first", dies="0-1", borders=False)
    assert run_campaign(load_campaign(first)).ok
    return folder


def test_another_campaigns_results_are_refused(ran, capsys):
    other = load_campaign(write_campaign(ran, name="second", dies="0-1", borders=False))
    with pytest.raises(StoreError, match="holds campaign 'first', not 'second'"):
        write_report(other)
    with pytest.raises(StoreError, match="holds campaign 'first'"):
        campaign_dataset(other)
    assert main(["campaign", "status", str(other.file)]) != 0
    assert "holds campaign 'first'" in capsys.readouterr().err
    assert not (ran / "out" / "report" / "report.md").exists()


def test_campaign_run_refuses_another_campaigns_out_dir_before_a_cluster_starts(
    ran, capsys, monkeypatch
):
    """It started a Dask cluster first (once, under load, a CommClosedError traceback)."""
    import mtj_hil.campaigns.engine as engine

    started = []
    monkeypatch.setattr(engine, "connect", lambda *a, **k: started.append(a) or 1 / 0)
    other = write_campaign(ran, name="second", dies="0-1", borders=False)
    assert main(["campaign", "run", str(other), "--workers", "1"]) == 4
    assert "holds campaign 'first'" in capsys.readouterr().err
    assert not started


def test_tasks_whose_settings_changed_are_not_shown_as_done(ran, capsys):
    edited = load_campaign(write_campaign(ran, name="first", dies="0-1", cycles=2, borders=False))
    assert main(["campaign", "status", str(edited.file)]) == 0
    printed = capsys.readouterr()
    assert "changed" in printed.out and "lot/die0" in printed.err
    text, _ = write_report(edited)
    assert "0 of 2 tasks completed" in text
    with pytest.raises(ConfigError, match="has finished yet"):
        campaign_dataset(edited)
    same = load_campaign(write_campaign(ran, name="first", dies="0-1", borders=False))
    assert campaign_dataset(same).sizes["die"] == 2


def test_an_unchanged_campaign_of_an_older_version_runs_again_as_complete(tmp_path):
    """An index from before params_scheme 2 holds hashes of parameters spelled otherwise
    (a switching plan without the settings added since): re-running the unchanged campaign
    was refused as "changed since it completed", and the refused run had upgraded the index
    so that status showed the task changed."""
    from mtj_hil.campaigns.index import CampaignIndex

    spec = load_campaign(write_campaign(tmp_path, dies="0-1", borders=False))
    assert run_campaign(spec).ok
    index = CampaignIndex(spec.index_path)
    header, records = index._read()
    header = {k: v for k, v in header.items() if k != "params_scheme"}
    old = {k: {**r, "params_hash": "0" * 64} for k, r in records.items()}  # older spelling
    index._write(header, old)
    outcome = run_campaign(spec)
    assert outcome.ok
    header, records = CampaignIndex(spec.index_path)._read()
    assert {r["status"] for r in records.values()} == {"completed"}
    assert all(r["params_hash"] == t.params_hash() for t in spec.tasks for r in [records[t.id]])
    assert main(["campaign", "status", str(spec.file)]) == 0
