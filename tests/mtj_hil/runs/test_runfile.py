"""Run files: provenance, units, refusal of foreign files, and resume after a kill."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import h5py
import numpy as np
import pytest

from mtj_hil.errors import StoreError
from mtj_hil.protocols import CharacterizationPlan
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store import CharacterizationRun, RunFile, load_characterization
from mtj_hil.sim import SimulatedChip

PLAN = CharacterizationPlan(arrays=tuple(range(8)), cycles=2)
DIE = "sim:1t1r-20k:lot0:die7"


def _run(path, plan=PLAN, resume=False):
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 7)
    return run_characterization(chip, path, die_id=DIE, plan=plan, resume=resume, seed=0)


def test_completed_run_has_provenance_and_units(tmp_path):
    path = tmp_path / "run.h5"
    result = _run(path)
    with RunFile.open(path) as run:
        attrs = run.attrs
        assert attrs["status"] == "completed"
        assert attrs["kind"] == "characterization"
        assert attrs["die_id"] == DIE
        assert attrs["station"]["backend"] == "simulated"
        assert attrs["station"]["profile"]["name"] == "1t1r-20k"
        for key in (
            "run_id",
            "started",
            "ended",
            "operator",
            "package_version",
            "git_revision",
            "seed",
        ):
            assert attrs[key] != "", key

        def check_unit(name, obj):
            # /entry is the NeXus face: text fields and soft links to the datasets below
            if isinstance(obj, h5py.Dataset) and not name.startswith("entry/"):
                assert obj.attrs.get("unit"), f"{name} has no unit"

        run.h5.visititems(check_unit)
        assert run.unit("defects/g_p") == "S"
    loaded = load_characterization(path)
    np.testing.assert_array_equal(loaded.codes, result.codes)
    assert loaded.thresholds == result.thresholds
    assert loaded.arrays_done == list(range(8))


def test_existing_output_is_never_overwritten(tmp_path):
    path = tmp_path / "run.h5"
    _run(path)
    before = path.read_bytes()
    with pytest.raises(StoreError, match="already exists"):
        _run(path)
    assert path.read_bytes() == before


def test_foreign_and_unreadable_files_are_refused(tmp_path):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    with pytest.raises(StoreError, match="cannot open"):
        load_characterization(text)
    foreign = tmp_path / "foreign.h5"
    with h5py.File(foreign, "w") as f:
        f["x"] = [1, 2, 3]
    with pytest.raises(StoreError, match="not an mtj-hil run file"):
        load_characterization(foreign)
    with pytest.raises(StoreError, match="does not exist"):
        load_characterization(tmp_path / "missing.h5")
    other_kind = tmp_path / "other.h5"
    RunFile.create(other_kind, "training", die_id="x").close()
    with pytest.raises(StoreError, match="'training' run, not a 'characterization' run"):
        load_characterization(other_kind)


def test_interrupt_marks_the_run_aborted_and_resume_finishes_it(tmp_path):
    path = tmp_path / "run.h5"
    reference = tmp_path / "reference.h5"
    _run(reference)

    class Interrupting(SimulatedChip):
        def program(self, array, *args, **kwargs):
            if array == 5:
                raise KeyboardInterrupt
            return super().program(array, *args, **kwargs)

    chip = Interrupting(SimulatedChip.from_lot("1t1r-20k", 0, 7).die)
    with pytest.raises(KeyboardInterrupt):
        run_characterization(chip, path, die_id=DIE, plan=PLAN, seed=0)
    partial = load_characterization(path)
    assert partial.attrs["status"] == "aborted"
    assert "Ctrl-C" in partial.attrs["status_reason"]
    assert partial.arrays_done == [0, 1, 2, 3, 4]
    assert not partial.complete
    with pytest.raises(StoreError, match="not 'sim:other'"):
        CharacterizationRun.resume(path, "sim:other")

    _run(path, resume=True)
    _assert_same_measurements(path, reference)
    resumed = load_characterization(path)
    assert resumed.attrs["status"] == "completed"
    assert resumed.attrs["resumed"][0]["previous_status"] == "aborted"
    with pytest.raises(StoreError, match="already completed"):
        _run(path, resume=True)


KILLER = textwrap.dedent(
    """
    import os, signal, sys
    from mtj_hil.runs.jobs.characterization import run_characterization
    from mtj_hil.sim import SimulatedChip
    from mtj_hil.protocols import CharacterizationPlan

    class Killed(SimulatedChip):
        def program(self, array, *args, **kwargs):
            if array == int(sys.argv[2]):
                os.kill(os.getpid(), signal.SIGKILL)
            return super().program(array, *args, **kwargs)

    chip = Killed(SimulatedChip.from_lot("1t1r-20k", 0, 7).die)
    plan = CharacterizationPlan(arrays=tuple(range(8)), cycles=2)
    run_characterization(chip, sys.argv[1], die_id="sim:1t1r-20k:lot0:die7", plan=plan, seed=0)
    """
)


@pytest.mark.slow
def test_killed_process_loses_nothing_finished_and_resumes_identically(tmp_path):
    path = tmp_path / "killed.h5"
    reference = tmp_path / "reference.h5"
    _run(reference)
    proc = subprocess.run(
        [sys.executable, "-c", KILLER, str(path), "6"],
        capture_output=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == -signal.SIGKILL
    partial = load_characterization(path)
    assert partial.attrs["status"] == "running"  # nobody could record the kill
    assert partial.arrays_done == [0, 1, 2, 3, 4, 5]
    with RunFile.open(path) as run, h5py.File(reference) as ref:
        for name in ("g_after_p", "g_after_ap", "residual_p"):
            np.testing.assert_array_equal(
                run.h5[f"characterization/{name}"][:6], ref[f"characterization/{name}"][:6]
            )
    _run(path, resume=True)
    assert not path.with_name(path.name + ".parts").exists()  # folded into the file
    _assert_same_measurements(path, reference)


def _assert_same_measurements(path, reference):
    with h5py.File(path) as f, h5py.File(reference) as ref:
        for name in ("array_index", "g_after_p", "g_after_ap", "residual_p", "residual_ap"):
            np.testing.assert_array_equal(
                f[f"characterization/{name}"][()], ref[f"characterization/{name}"][()], err_msg=name
            )
        for name in ("codes", "g_p", "g_ap", "arrays"):
            np.testing.assert_array_equal(f[f"defects/{name}"][()], ref[f"defects/{name}"][()])


def test_half_written_array_is_dropped_on_resume(tmp_path):
    path = tmp_path / "run.h5"
    reference = tmp_path / "reference.h5"
    _run(reference)
    plan = CharacterizationPlan(arrays=tuple(range(8)), cycles=2)

    class Failing(SimulatedChip):
        def program(self, array, *args, **kwargs):
            if array == 3:
                raise RuntimeError("bench power cut")
            return super().program(array, *args, **kwargs)

    with pytest.raises(RuntimeError):
        run_characterization(
            Failing(SimulatedChip.from_lot("1t1r-20k", 0, 7).die), path, die_id=DIE, plan=plan
        )
    assert load_characterization(path).attrs["status"] == "failed"
    # Rows past the last finished array (as a 0.1 process killed between the data appends
    # and the index append left them) are dropped when the run is reopened for writing.
    with RunFile.open(path, "a") as run:
        for name in ("g_after_p", "g_after_ap", "residual_p", "residual_ap"):
            ds = run.h5[f"characterization/{name}"]
            run.append(f"characterization/{name}", np.zeros_like(ds[-1:]), "1")
    _run(path, resume=True)
    _assert_same_measurements(path, reference)
    os.remove(reference)


def test_a_journal_that_cannot_be_tidied_stops_the_writer(tmp_path, monkeypatch) -> None:
    """The writer folds its parts into the file, then removes them; a disk that fails that
    clean-up is failing, so nothing more is measured onto it (the crash bench found a run
    that went on measuring after a failed write here). The data is in the file."""
    import errno

    from mtj_hil.runs.store import journal

    path = tmp_path / "run.h5"
    # (a run of a measurement kind is created with its plan and layout, as its sink does)
    run = RunFile.create(
        path, "characterization", die_id="sim:test", extra={"plan": {}, "layout": {}}
    )
    run.append("characterization/array_index", np.array([0]), unit="")
    run.flush()  # one journal part, folded and removed when the run closes

    def failing_fsync(folder):
        raise OSError(errno.EIO, "Input/output error", str(folder))

    monkeypatch.setattr(journal, "fsync_dir", failing_fsync)
    with pytest.raises(StoreError, match="cannot tidy the journal of run file .*EIO"):
        run.close()
    monkeypatch.undo()
    with RunFile.open(path) as done:
        assert list(done.h5["characterization/array_index"][()]) == [0]


def test_an_empty_file_and_a_run_file_without_its_kind_are_named(tmp_path):
    from mtj_hil.runs.store.reading import file_format
    from mtj_hil.runs.store.runfile import FORMAT

    empty = tmp_path / "empty.h5"
    empty.write_bytes(b"")
    with pytest.raises(StoreError, match=r"empty\.h5 is empty \(0 bytes\)"):
        load_characterization(empty)
    with pytest.raises(StoreError, match=r"empty\.h5 is empty"):
        file_format(empty)
    kindless = tmp_path / "kindless.h5"
    with h5py.File(kindless, "w") as f:
        f.attrs["format"] = FORMAT
    with pytest.raises(StoreError, match=r"kindless\.h5 is an mtj-hil run file without its kind"):
        load_characterization(kindless)


def test_integers_beyond_64_bits_are_recorded_as_text(tmp_path):
    path = tmp_path / "run.h5"
    RunFile.create(path, "network", die_id="x", extra={"die": 10**26, "lot_seed": 3}).close()
    with RunFile.open(path) as run:
        assert int(run.attrs["die"]) == 10**26 and run.attrs["lot_seed"] == 3


def test_a_recorded_command_with_spaces_gives_a_resume_hint_that_pastes(tmp_path, monkeypatch):
    """The command was recorded as " ".join(argv): a path with a space came back split in
    two, and the printed 'finish it with' line failed with 'unexpected extra arguments'."""
    import shlex
    import sys

    from mtj_hil.runs.store.resume import resume_hint

    path = tmp_path / "sp ace" / "ab run.h5"
    path.parent.mkdir()
    argv = ["mtj-hil", "characterize", "--profile", "my prof.toml", "--out", str(path)]
    monkeypatch.setattr(sys, "argv", argv)
    run = RunFile.create(path, "characterization", die_id="x", extra={"plan": {}, "layout": {}})
    attrs = dict(run.h5.attrs)
    run.close()
    tokens = shlex.split(resume_hint(attrs, path))
    assert tokens[tokens.index("--profile") + 1] == "my prof.toml"
    assert tokens[tokens.index("--out") + 1] == str(path) and tokens[-1] == "--resume"


def test_a_symlink_to_a_run_file_is_written_through_under_the_real_files_lease(tmp_path):
    """Two resumes, one through a symbolic link and one through the real path, both ran:
    two diverging 'completed' files with one run id, the link replaced by a file, and the
    link's writer measured every array again (its journal looked moved)."""
    from mtj_hil.errors import StoreError
    from mtj_hil.runs.store.lease import WriterLease

    real = tmp_path / "real" / "k.h5"
    real.parent.mkdir()
    RunFile.create(real, "characterization", die_id="x", extra={"plan": {}, "layout": {}}).close()
    link = tmp_path / "lk.h5"
    link.symlink_to(real)
    lease = WriterLease.acquire(real)  # another process writes the real file
    try:
        with pytest.raises(StoreError):
            RunFile.open(link, "a")
    finally:
        lease.release()
    run = RunFile.open(link, "a")
    assert run.path == real
    run.close()
    assert link.is_symlink() and link.resolve() == real


def test_a_second_writer_is_named_as_such_not_as_a_disk_problem(tmp_path):
    """With its writer lease deleted, a second process resumed a run being written; the first
    stopped with "File exists (EEXIST) ... free space or fix the cause"."""
    from mtj_hil.runs.store.journal import parts_dir

    path = tmp_path / "run.h5"
    run = RunFile.create(path, "characterization", die_id="x", extra={"plan": {}, "layout": {}})
    try:
        run.append("characterization/array_index", np.array([0], np.int32), "1")
        run.flush()  # part 1
        run.append("characterization/array_index", np.array([1], np.int32), "1")
        (parts_dir(path) / f"{2:08d}.h5").write_bytes(b"the other writer's part")
        with pytest.raises(StoreError, match="another process wrote its next journal part"):
            run.flush()
    finally:
        run.close()
