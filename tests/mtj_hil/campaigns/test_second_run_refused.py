"""A second ``campaign run`` of a campaign that is running is refused before it starts a Dask
cluster: it used to start one (seconds, and worker processes) only to be refused by the
index lock once the cluster was up."""

from __future__ import annotations

import pytest

from mtj_hil.campaigns.index import CampaignIndex
from mtj_hil.cli import main

from .conftest import write_campaign


def test_a_second_run_is_refused_before_any_cluster_starts(tmp_path, capsys, monkeypatch):
    import mtj_hil.campaigns.engine as engine

    path = write_campaign(tmp_path, dies="0", borders=False)
    started = []

    def connect(*args, **kwargs):
        started.append(args)
        raise AssertionError("a cluster was started")

    monkeypatch.setattr(engine, "connect", connect)
    index = CampaignIndex(tmp_path / "out" / "campaign.h5")
    with index.exclusive():  # the first run holds the campaign
        assert main(["campaign", "run", str(path), "--workers", "1"]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert "is in use by another 'campaign run' (pid " in err
    assert started == []


def test_the_check_lets_a_campaign_nobody_runs_go_ahead(tmp_path):
    index = CampaignIndex(tmp_path / "out" / "campaign.h5")
    index.refuse_if_running()  # no lock file yet
    with index.exclusive():
        pass
    index.refuse_if_running()  # the lock file is left, unheld
    with index.exclusive(), pytest.raises(Exception, match="in use by another"):
        CampaignIndex(tmp_path / "out" / "campaign.h5").refuse_if_running()
