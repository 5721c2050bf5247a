"""A campaign as the live page sees it: tasks by state, the lot map, failures with their
errors, and whether a ``campaign run`` is still at it."""

from __future__ import annotations

from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.index import CampaignIndex
from mtj_hil.campaigns.live import CampaignSource

CAMPAIGN = """
[campaign]
name = "view"
out_dir = "out"

[[task]]
name = "lot"
kind = "characterize"
dies = "0-3"
arrays = "0-1"
"""


def test_tasks_by_state_lot_map_failures_and_liveness(tmp_path):
    (tmp_path / "c.toml").write_text(CAMPAIGN)
    spec = load_campaign(tmp_path / "c.toml")
    source = CampaignSource(spec)
    assert source.snapshot()["state"] == "waiting"
    index = CampaignIndex(spec.index_path)
    index.ensure(spec.name, spec.file, spec.text, [{"id": t.id} for t in spec.tasks])
    ids = [t.id for t in spec.tasks]
    counts = {"GOOD": 1240, "SHORT": 5, "OPEN": 5, "STUCK_P": 0, "STUCK_AP": 0, "UNCERTAIN": 0}
    index.update(ids[0], status="completed", summary={"counts": counts})
    index.update(ids[1], status="failed", error="InstrumentError: SMU in compliance")
    index.update(ids[2], status="running")
    with index.exclusive():  # a campaign run holds the index
        snap = source.snapshot()
        assert snap["state"] == "running"
        by_kind = snap["campaign"]["by_kind"]["characterize"]
        assert (by_kind["completed"], by_kind["failed"], by_kind["running"]) == (1, 1, 1)
        assert by_kind["pending"] == 1
    lot = {d["label"]: d for d in snap["campaign"]["lot"]}
    assert lot["die0"]["yield"] == 1240 / 1250 and lot["die1"]["status"] == "failed"
    assert snap["campaign"]["failures"] == [
        {"id": ids[1], "error": "InstrumentError: SMU in compliance"}
    ]
    assert snap["progress"]["done"] == 1 and snap["progress"]["total"] == 4
    gone = source.snapshot()  # nobody holds the index any more
    assert gone["state"] == "interrupted"
    assert [t["status"] for t in gone["campaign"]["tasks"]][2] == "interrupted"
