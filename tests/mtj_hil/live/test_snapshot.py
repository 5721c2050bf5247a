"""Run files as the live page sees them: finished, running, killed, half-written or not a
run file at all."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import textwrap
import time

import h5py
import numpy as np
import pytest

from mtj_hil.errors import StoreError
from mtj_hil.live.liveness import run_state, writer_holds
from mtj_hil.live.reading import NotARunFile, read_retrying
from mtj_hil.live.snapshot import RunSource, check_run_file
from mtj_hil.protocols.characterize.plan import CharacterizationPlan
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store import RunFile, load_characterization
from mtj_hil.runs.store.journal import list_parts
from mtj_hil.runs.store.lease import writer_active
from mtj_hil.sim.chip import SimulatedChip


def _characterise(path, arrays=(0, 1, 2), progress=None):
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 3)
    plan = CharacterizationPlan(arrays=arrays, remeasure_cycles=0)
    return run_characterization(chip, path, die_id="d3", plan=plan, seed=0, progress=progress)


def test_finished_characterisation_shows_the_run_files_classes_and_yield(tmp_path):
    path = tmp_path / "r.h5"

    def warn(done, total, array):
        if array == 1:
            logging.getLogger("mtj_hil.instruments.smu").warning("compliance on line 7")

    _characterise(path, progress=warn)
    char = load_characterization(path)
    snap = RunSource(path).snapshot()
    assert snap["state"] == "completed"
    assert snap["done_arrays"] == [0, 1, 2] and snap["progress"]["total"] == 3
    body = snap["characterization"]
    assert body["final"] is True
    assert body["good"] == int((char.codes == 0).sum()) and body["devices"] == char.codes.size
    assert body["counts"] == char.counts()
    for k, view in enumerate(body["arrays"]):
        codes = np.array([int(c) for c in view["codes"]]).reshape(char.codes.shape[1:])
        assert np.array_equal(codes, char.codes[k])
    assert sum(body["histogram"]["p"]) == char.codes.size
    assert snap["header"]["die_id"] == "d3" and "simulator" in snap["header"]["station"]
    # the logged instrument warning went to the run file's timeline, and to the page
    assert any(
        w["source"] == "mtj_hil.instruments.smu" and "compliance on line 7" in w["text"]
        for w in snap["warnings"]
    )
    with h5py.File(path, "r") as h5:
        rows = h5["timeline/arrays"][()]
    assert rows[:, 0].tolist() == [0, 1, 2] and np.all(np.isnan(rows[:, 2]))


WRITER = textwrap.dedent(
    """
    import logging, sys, time
    from mtj_hil.protocols.characterize.plan import CharacterizationPlan
    from mtj_hil.runs.jobs.characterization import run_characterization
    from mtj_hil.sim.chip import SimulatedChip

    def stall(done, total, array):
        if done == 3:
            logging.getLogger("mtj_hil.instruments.smu").warning("compliance on line 9")
            print("stalled", flush=True)
            time.sleep(600)

    chip = SimulatedChip.from_lot("1t1r-20k", 0, 3)
    plan = CharacterizationPlan(arrays=tuple(range(6)), remeasure_cycles=0)
    run_characterization(chip, sys.argv[1], die_id="d3", plan=plan, progress=stall)
    """
)


def test_running_file_is_provisional_then_interrupted_once_its_writer_is_killed(tmp_path):
    path = tmp_path / "run.h5"
    proc = subprocess.Popen(
        [sys.executable, "-c", WRITER, str(path)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert proc.stdout.readline().strip() == "stalled"
        assert writer_active(path) is True
        assert list_parts(path)  # arrays 0-2 are committed as journal parts, not yet folded
        leases = sorted(tmp_path.iterdir())
        source = RunSource(path)
        first = source.snapshot()
        assert first["state"] == "running" and first["done_arrays"] == [0, 1, 2]
        assert first["progress"]["remaining_s"] is not None
        assert [a["codes"] for a in first["characterization"]["arrays"]] == [None] * 3
        later = source.snapshot()  # the next snapshots classify what is waiting
        while source.view.pending:
            later = source.snapshot()
        body = later["characterization"]
        assert body["final"] is False and all(a["codes"] for a in body["arrays"])
        assert 0.9 < body["yield"] <= 1.0
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait(timeout=10)
        assert writer_active(path) is False
        source.key()
        gone = source.snapshot()
        assert gone["state"] == "interrupted" and gone["done_arrays"] == [0, 1, 2]
        assert any("interrupted" in w["text"] for w in gone["warnings"])
        # the warning logged before the kill was journalled with the arrays: it survived
        assert any("compliance on line 9" in w["text"] for w in gone["warnings"])
        assert sorted(tmp_path.iterdir()) == leases  # the viewer took and tidied nothing
        with RunFile.open(path, "r") as run:
            assert run.status == "running"  # the file never learnt it stopped
    finally:
        proc.kill()
        proc.wait()


def test_run_state_trusts_a_status_that_is_not_running(tmp_path, monkeypatch):
    assert run_state("completed", tmp_path / "gone.h5") == "completed"
    assert run_state("aborted", tmp_path / "gone.h5") == "aborted"
    assert writer_holds(tmp_path / "gone.h5") is None
    assert run_state("running", tmp_path / "gone.h5") == "interrupted"  # nobody's lease
    # a lease whose holder cannot be checked (another host, no locks): trust the status
    monkeypatch.setattr("mtj_hil.runs.store.lease.holder_alive", lambda p: None)
    (tmp_path / "gone.h5.writer").write_text("{}")
    assert run_state("running", tmp_path / "gone.h5") == "running"


def test_locking_switched_off_cannot_tell(tmp_path, monkeypatch):
    path = tmp_path / "x.h5"
    h5py.File(path, "w").close()
    monkeypatch.setenv("HDF5_USE_FILE_LOCKING", "FALSE")
    assert writer_holds(path) is None


def test_files_that_are_not_run_files_are_refused(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as h5:
        h5.attrs["format"] = "something-else"
    for path in (text, plain):
        with pytest.raises(NotARunFile):
            check_run_file(path)
        snap = RunSource(path).snapshot()
        assert snap["state"] == "error" and "not an mtj-hil run file" in snap["message"]
    check_run_file(tmp_path / "later.h5")  # a run not created yet is fine
    assert RunSource(tmp_path / "later.h5").snapshot()["state"] == "waiting"


def _writer_at_work(monkeypatch) -> None:
    """The file and its journal change between reads, as while a writer flushes."""
    ticks = iter(range(10**6))
    monkeypatch.setattr("mtj_hil.live.reading._state", lambda p: (next(ticks),))


def test_a_read_that_fails_mid_flush_is_retried(tmp_path, monkeypatch):
    _writer_at_work(monkeypatch)
    path = tmp_path / "r.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["format"] = "mtj-hil-run"
    calls = []

    def flaky(h5):
        calls.append(1)
        if len(calls) < 3:
            raise OSError("truncated file (a flush under way)")
        return "read"

    assert read_retrying(path, flaky, pause=0.001) == "read" and len(calls) == 3

    def broken(h5):
        raise OSError("bad")

    with pytest.raises(StoreError, match="cannot read"):
        read_retrying(path, broken, attempts=3, pause=0.001)


def test_a_failure_on_a_file_nobody_changes_is_final_at_the_second_read(tmp_path):
    # a damaged file was read 6 times over 3 s before the page said so
    path = tmp_path / "r.h5"
    with h5py.File(path, "w") as h5:
        h5.attrs["format"] = "mtj-hil-run"
    calls = []

    def broken(h5):
        calls.append(1)
        raise OSError("bad")

    with pytest.raises(StoreError, match="cannot read"):
        read_retrying(path, broken, pause=0.001)
    assert len(calls) == 2


def test_last_good_snapshot_is_kept_when_a_read_fails(tmp_path, monkeypatch):
    path = tmp_path / "r.h5"
    _characterise(path, arrays=(0,))
    source = RunSource(path)
    good = source.snapshot()

    def fail(*a, **k):
        raise StoreError("cannot read r.h5 (it may be damaged): boom")

    monkeypatch.setattr("mtj_hil.live.snapshot.read_retrying", fail)
    again = source.snapshot()
    assert again["characterization"] == good["characterization"]
    assert "last good read" in again["message"]
    assert time.time() - again["progress"]["last_flush"] < 600


def test_a_file_that_changes_while_read_is_read_again(tmp_path, monkeypatch):
    path = tmp_path / "r.h5"
    _characterise(path, arrays=(0, 1))
    _writer_at_work(monkeypatch)
    stamps = iter([0, 1, 2, 3])  # the first two reads see the file change under them
    monkeypatch.setattr("mtj_hil.live.snapshot._stamp", lambda p: next(stamps, 99))
    source = RunSource(path)
    reads = []
    real = source._read
    monkeypatch.setattr(source, "_read", lambda h5: reads.append(1) or real(h5))
    snap = source.snapshot()
    assert len(reads) == 3 and snap["done_arrays"] == [0, 1]
    assert snap["characterization"]["final"] and len(snap["characterization"]["arrays"]) == 2


def test_a_read_of_the_file_a_finished_run_just_replaced_is_not_shown_interrupted(
    tmp_path, monkeypatch
):
    """The run's end writes the whole file, puts it in place and gives the lease back: a
    read that opened the file it replaced sees ``running`` with no writer. That read is
    retried, so the page shows the completed run, not an interrupted one."""
    import mtj_hil.live.snapshot as snapshot

    path = tmp_path / "r.h5"
    _characterise(path, arrays=(0, 1))
    real, calls = snapshot.header, []

    def old_handle_first(h5):
        head = real(h5)
        calls.append(head["status"])
        return {**head, "status": "running"} if len(calls) == 1 else head

    monkeypatch.setattr(snapshot, "header", old_handle_first)
    snap = RunSource(path).snapshot()
    assert snap["state"] == "completed" and snap["done_arrays"] == [0, 1]
    assert len(calls) == 2


def test_a_structure_check_failing_once_is_a_read_caught_mid_write_and_retried(
    tmp_path, monkeypatch
):
    import mtj_hil.live.reading as reading

    path = tmp_path / "r.h5"
    _characterise(path, arrays=(0,))
    real, calls = reading.check_run, []

    def once(h5, where, kind):
        calls.append(kind)
        if len(calls) == 1:
            raise StoreError(f"{where}: dataset characterization/0/g_p holds text")
        real(h5, where, kind)

    monkeypatch.setattr(reading, "check_run", once)
    assert read_retrying(path, lambda h5: str(h5.attrs["status"]), pause=0.001) == "completed"
    monkeypatch.setattr(reading, "check_run", lambda h5, where, kind: (_ for _ in ()).throw(
        StoreError(f"{where}: dataset characterization/0/g_p holds text")))  # fmt: skip
    with pytest.raises(NotARunFile, match="g_p holds text"):
        read_retrying(path, lambda h5: 0, pause=0.001)


def test_a_damaged_file_is_named_once_not_twice(tmp_path):
    """ "cannot read X (it may be damaged): X is damaged: ...": the store's message already
    names the file and the damage."""
    run = tmp_path / "r.h5"
    run_characterization(
        SimulatedChip.from_lot("1t1r-20k", 0, 0),
        run,
        die_id="d",
        plan=CharacterizationPlan(arrays=(0,)),
    )
    data = bytearray(run.read_bytes())
    data[len(data) // 2] ^= 0xFF
    run.write_bytes(bytes(data))
    with pytest.raises(StoreError) as caught:
        read_retrying(run, lambda h5: None, pause=0.001)
    text = str(caught.value)
    assert text.count(str(run)) == 1 and "may be damaged" not in text
