"""The cluster under a campaign: a scheduler without workers is waited on with one warning
(a task submitted then was marked running although no worker could start it, and the
command sat at 0 of N without a word), and a scheduler lost mid-campaign is one clear
configuration error (it was an 'unexpected' OSError, exit 1)."""

from __future__ import annotations

import pytest

from mtj_hil.campaigns import engine
from mtj_hil.errors import ConfigError
from mtj_hil.runs.store.journal import RecoveryWarning


class _Client:
    """``nthreads()`` answers from a script: a dict of workers, or an exception to raise."""

    def __init__(self, *answers):
        self.answers = list(answers)
        self.asked = 0

    def nthreads(self):
        self.asked += 1
        answer = self.answers.pop(0) if len(self.answers) > 1 else self.answers[0]
        if isinstance(answer, Exception):
            raise answer
        return answer


def test_a_scheduler_without_workers_is_waited_on_with_one_warning(monkeypatch):
    monkeypatch.setattr(engine, "NO_WORKERS_POLL", 0.0)
    client = _Client({}, {}, {}, {"tcp://w1": 2})
    with pytest.warns(RecoveryWarning, match="has no workers; waiting for one") as caught:
        assert engine.wait_for_workers(client) == 2
    assert len(caught) == 1 and client.asked == 4


def test_a_scheduler_lost_mid_campaign_is_one_configuration_error():
    client = _Client(OSError("Timed out trying to connect to tcp://127.0.0.1:8786 after 30 s"))
    with pytest.raises(ConfigError, match="lost the Dask scheduler: Timed out") as caught:
        engine.wait_for_workers(client)
    assert "run the campaign again on a running scheduler" in str(caught.value)
