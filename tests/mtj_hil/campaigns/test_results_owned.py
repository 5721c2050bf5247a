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
