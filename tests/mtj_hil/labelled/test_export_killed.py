"""An export killed outright (SIGKILL: no handler, no clean-up) at any of its writes, then
tidied up by the next export to the same place: the output is as it was before the killed
export or as it would be after it, never a mix, and nothing hidden stays behind."""

from __future__ import annotations

import os
import shutil
import socket
import warnings
from pathlib import Path

import pytest

from mtj_hil.cli import main
from mtj_hil.labelled.outputs import recover_folder
from mtj_hil.runs.store.journal import RecoveryWarning
from mtj_hil.testing.crash import in_child
from mtj_hil.testing.write_faults import folder_contents, write_faults

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")


def _count(folder: Path, args: list[str]) -> int:
    """The write points an uninterrupted ``args`` makes under ``folder``."""
    with write_faults(folder) as faults, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main(args) == 0
    return faults.seen


def _killed(folder: Path, args: list[str], k: int, log: Path) -> None:
    """Run ``args`` in a forked child killed by SIGKILL at its ``k``-th write under ``folder``."""

    def body(report) -> int:
        with write_faults(folder, k, "SIGKILL"), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            main(args)
        return 0

    child = in_child(body, log, timeout=120)
    assert child.code == -9, f"write point {k}: the child ended with {child.code}"


def _restore(folder: Path, state: dict[str, bytes | None]) -> None:
    """Make ``folder`` hold exactly ``state`` (a :func:`~mtj_hil.testing.write_faults.folder_contents`)."""
    for path in sorted(folder.rglob("*"), reverse=True):
        if str(path.relative_to(folder)) not in state:
            path.rmdir() if path.is_dir() else path.unlink()
    for name, data in state.items():
        if data is None:
            (folder / name).mkdir(exist_ok=True)
        else:
            (folder / name).write_bytes(data)


def test_forced_csv_export_killed_at_any_write_is_undone_or_finished(small_run, tmp_path):
    out = tmp_path / "tables"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "array-row-column.csv").write_text("an older export")
    (out / "attributes.csv").write_text("older attributes")
    before = folder_contents(out)
    args = ["export", str(small_run), "--format", "csv", "--out", str(out)]
    n = _count(tmp_path, [*args, "--force"])
    after = folder_contents(out)
    assert after != before and not any(name.startswith(".") for name in after)
    outcomes = set()
    for k in range(1, n + 1):
        _restore(out, before)
        _killed(tmp_path, [*args, "--force"], k, tmp_path / "child.log")
        # what the kill left, tidied up on its own (a copy: the name of the folder counts)
        copy = tmp_path / f"copy{k}" / "tables"
        shutil.copytree(out, copy, symlinks=True)
        seen = {
            name: data for name, data in folder_contents(out).items() if not name.startswith(".")
        }
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            recover_folder(copy)
        state = folder_contents(copy)
        assert state in (before, after), f"write point {k}: {sorted(state)}"
        outcomes.add("before" if state == before else "after")
        warned = any(issubclass(w.category, RecoveryWarning) for w in caught)
        assert warned == (seen != before and state == before), k  # says so when it undoes
        shutil.rmtree(copy.parent)
        if k in (1, n) or k % 3 == 0:
            # and the user's way, the same export again (it tidies up by the same
            # recover_folder checked at every point above; a sample keeps the suite short)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                assert main([*args, "--force"]) == 0, k
            assert folder_contents(out) == after, k
    assert outcomes == {"before", "after"}  # some kills undone, the last ones finished


def test_csv_export_killed_at_any_write_leaves_nothing_the_next_export_minds(small_run, tmp_path):
    out = tmp_path / "tables"
    args = ["export", str(small_run), "--format", "csv", "--out", str(out)]
    n = _count(tmp_path, args)
    after = folder_contents(out)
    for k in range(1, n + 1):
        for path in sorted(tmp_path.rglob("*"), reverse=True):
            if path.name != "child.log":
                path.rmdir() if path.is_dir() else path.unlink()
        _killed(tmp_path, args, k, tmp_path / "child.log")
        with warnings.catch_warnings():
            warnings.simplefilter("error")  # nothing to put back: no warning
            if not out.exists():
                assert main(args) == 0, k  # no --force needed: nothing of it was left
        assert folder_contents(out) == after, k
        assert sorted(p.name for p in tmp_path.iterdir()) == ["child.log", "tables"], k


@pytest.mark.parametrize(("fmt", "suffix"), [("netcdf", ".nc"), ("nexus", ".nxs")])
def test_file_export_killed_at_any_write_leaves_no_temporary_file(small_run, tmp_path, fmt, suffix):
    out = tmp_path / f"run{suffix}"
    args = ["export", str(small_run), "--format", fmt, "--out", str(out)]
    n = _count(tmp_path, args)
    for k in range(1, n + 1):
        out.unlink(missing_ok=True)
        _killed(tmp_path, args, k, tmp_path / "child.log")
        assert main([*args, "--force"]) == 0, k
        assert sorted(p.name for p in tmp_path.iterdir()) == ["child.log", out.name], k


def test_a_running_export_is_left_alone(tmp_path):
    out = tmp_path / "tables"
    out.mkdir()
    host = socket.gethostname().replace("-", "_") or "host"
    alive = os.getppid()  # a process that runs: its export may be under way
    stage = out / f".tables.tmp-{host}-{alive}-0000"
    stage.mkdir()
    (stage / ".moving").write_text('{"replaced": [], "new": ["a.csv"]}')
    (out / "a.csv").write_text("moved in by the running export")
    other = tmp_path / ".tables.tmp-otherhost-1-0000"  # another host's: not ours to judge
    other.mkdir()
    assert recover_folder(out) == []
    assert stage.exists() and other.exists() and (out / "a.csv").exists()
