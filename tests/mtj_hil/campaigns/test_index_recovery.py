"""A campaign index that cannot trap anyone: a damaged index is read in bounded time,
shown from the run files and rebuilt by the next run; empty and stale claims are recovered;
a run file another process holds is never renamed aside."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import h5py
import pytest

from mtj_hil.campaigns import index as index_module
from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.claims import claim, claim_path
from mtj_hil.campaigns.engine import digests, run_campaign
from mtj_hil.campaigns.index import CampaignIndex, IndexUnreadable
from mtj_hil.campaigns.worker import set_aside_unreadable
from mtj_hil.cli import main
from mtj_hil.errors import StoreError
from mtj_hil.runs.store.journal import RecoveryWarning

from .conftest import write_campaign

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1"


@pytest.fixture
def finished(tmp_path) -> Path:
    """The file of a finished two-die campaign."""
    path = write_campaign(tmp_path, dies="0-1", borders=False)
    assert run_campaign(load_campaign(path)).ok
    return path


def test_a_zeroed_block_is_shown_from_the_run_files_and_rebuilt(finished, capsys):
    campaign = finished
    spec = load_campaign(campaign)
    before = digests(spec)
    data = bytearray(spec.index_path.read_bytes())
    data[4096:8192] = bytes(4096)
    spec.index_path.write_bytes(bytes(data))
    start = time.monotonic()
    with pytest.raises(IndexUnreadable, match="damaged"):
        CampaignIndex(spec.index_path).records()
    assert main(["campaign", "status", str(campaign)]) == 0
    assert time.monotonic() - start < 30
    text = capsys.readouterr()
    # one line, whatever the path's length: the printer wrapped it at 80 columns before, and
    # a path of some lengths broke this phrase in two (seen in CI)
    tail = "showing the state of the run files instead; the next 'campaign run' rebuilds the index"
    assert tail in text.out + text.err
    assert "2" in text.out  # two completed tasks, from the run files
    with pytest.warns(RecoveryWarning, match="rebuilt from the run files"):
        outcome = run_campaign(spec)
    assert outcome.ok and sorted(outcome.skipped) == ["lot/die0", "lot/die1"]
    assert digests(spec) == before
    records = CampaignIndex(spec.index_path).records()
    assert {r["status"] for r in records.values()} == {"completed"}
    assert list(spec.out_dir.glob("campaign.h5.unreadable-*"))


def test_an_old_index_is_read_in_bounded_time_even_when_damaged(tmp_path, monkeypatch):
    folder = tmp_path / "legacy"
    shutil.copytree(FIXTURES / "campaigns" / "tiny-lot", folder)
    index = folder / "out" / "campaign.h5"
    assert len(CampaignIndex(index).records()) == 2  # mtj-hil 0.1: no checksum, still read
    data = bytearray(index.read_bytes())
    data[0:4096] = bytes(4096)  # the superblock and the root group gone
    index.write_bytes(bytes(data))
    monkeypatch.setattr(index_module, "LEGACY_READ_TIMEOUT", 20.0)
    start = time.monotonic()
    with pytest.raises(IndexUnreadable):
        CampaignIndex(index).records()
    assert time.monotonic() - start < 25


def test_an_empty_or_stale_claim_is_recovered_with_a_message(tmp_path):
    run_file = tmp_path / "lot" / "die0.h5"
    run_file.parent.mkdir()
    owner = tmp_path / "campaign.h5"
    claim_path(run_file).write_text("")  # left by a process killed while claiming
    with pytest.warns(RecoveryWarning, match="empty or unreadable"):
        claim(run_file, owner)
    assert json.loads(claim_path(run_file).read_text())["campaign_index"] == str(owner)
    gone = tmp_path / "gone" / "campaign.h5"
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = {"campaign_index": str(gone), "host": os.uname().nodename, "pid": int(ended.stdout)}
    claim_path(run_file).write_text(json.dumps(stale))
    with pytest.warns(RecoveryWarning, match="no longer exists"):
        claim(run_file, owner)
    # another campaign's live claim is still refused
    other = tmp_path / "other" / "campaign.h5"
    other.parent.mkdir()
    other.write_bytes(b"")
    claim_path(run_file).write_text(json.dumps({"campaign_index": str(other)}))
    with pytest.raises(StoreError, match="belongs to another campaign"):
        claim(run_file, owner)


HOLDER = textwrap.dedent(
    """
    import sys, time
    import h5py
    from mtj_hil.runs.store.runfile import RunFile
    mode = sys.argv[2]
    if mode == "h5py":
        f = h5py.File(sys.argv[1], "r")  # a viewer holding the file open (HDF5 locks it)
    else:
        run = RunFile.open(sys.argv[1], "a")  # a writer (holds the writer lease)
    print("holding", flush=True)
    time.sleep(60)
    """
)


@pytest.fixture(scope="module")
def finished_run_file(tmp_path_factory) -> Path:
    """A completed run file of a finished one-die campaign, measured once for the tests
    that copy it."""
    path = write_campaign(tmp_path_factory.mktemp("finished"), dies="0", borders=False)
    assert run_campaign(load_campaign(path)).ok
    return load_campaign(path).tasks[0].run_file


@pytest.mark.parametrize("mode", ["h5py", "writer"])
def test_a_run_file_held_by_another_process_is_never_renamed_aside(
    finished_run_file, tmp_path, mode
):
    run_file = tmp_path / "lot" / finished_run_file.name  # a copy of its own, to hold
    run_file.parent.mkdir()
    shutil.copy(finished_run_file, run_file)
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_file), mode], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "holding"
        if mode == "h5py":
            assert set_aside_unreadable(run_file) is None
        else:
            with pytest.raises(StoreError, match="being written by another process"):
                set_aside_unreadable(run_file)
        assert run_file.exists()
        assert not list(run_file.parent.glob("*.unreadable-*"))
        with h5py.File(run_file, "r", locking=False):
            pass
    finally:
        holder.kill()
        holder.wait()
