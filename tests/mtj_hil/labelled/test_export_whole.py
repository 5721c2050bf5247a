"""An export is written whole or not at all: a full disk or a stop signal part-way through a
CSV export (or a NetCDF / NeXus one) leaves nothing new behind, so the next export needs no
--force, and never removes or changes a file that was there before."""

from __future__ import annotations

import os
import warnings
from pathlib import Path

import pytest

from mtj_hil.cli import main
from mtj_hil.testing.write_faults import folder_contents, write_faults


def _export(folder: Path, args: list[str], k: int = 0, action: str = "count"):
    with write_faults(folder, k, action) as faults, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(args)
    return code, faults


def _point(points: list[str], what: str, nth: int) -> int:
    """The 1-based write point of the ``nth`` (1-based) point whose text starts with
    ``what`` and names a CSV table."""
    hits = [i for i, p in enumerate(points, 1) if p.startswith(what) and ".csv" in p]
    assert len(hits) >= nth, points
    return hits[nth - 1]


def _csv_args(small_run: Path, out: Path, *extra: str) -> list[str]:
    return ["export", str(small_run), "--format", "csv", "--out", str(out), *extra]


@pytest.mark.parametrize("action", ["ENOSPC", "SIGTERM"])
def test_csv_export_cut_short_at_the_third_table_leaves_no_folder(
    small_run, tmp_path, capsys, action, python_sigint
):
    out = tmp_path / "deep" / "tables"
    _, counted = _export(tmp_path / "count", _csv_args(small_run, tmp_path / "count" / "t"))
    k = _point(counted.points, "open", 3)
    code, faults = _export(tmp_path, _csv_args(small_run, out), k, action)
    assert faults.fired
    err = capsys.readouterr().err
    assert "Traceback" not in err
    if action == "ENOSPC":
        assert code == 4
        assert f"cannot write CSV tables into {out}" in " ".join(err.split())
        assert "nothing was written" in " ".join(err.split())
        # the harness fails every write after the fault, the clean-up's too: at most the
        # hidden temporary folder stays (a real full disk lets it be removed)
        left = {p.name for p in tmp_path.iterdir()} - {"count"}
        assert left <= {"deep"}, left
        assert not out.exists()
        assert all(p.name.startswith(".tables.") for p in (tmp_path / "deep").iterdir())
    else:
        assert code == 143
        assert sorted(p.name for p in tmp_path.iterdir()) == ["count"]  # not even deep/
    # the next export needs no --force
    for stale in (tmp_path / "deep").glob(".tables.*") if (tmp_path / "deep").exists() else ():
        import shutil

        shutil.rmtree(stale)
    assert main(_csv_args(small_run, out)) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(
        p.name for p in (tmp_path / "count" / "t").iterdir()
    )


def test_forced_csv_export_cut_short_leaves_the_folder_as_it_was(
    small_run, tmp_path, capsys, python_sigint
):
    out = tmp_path / "tables"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "array-row-column.csv").write_text("an older export")
    before = folder_contents(out)
    _, counted = _export(tmp_path / "count", _csv_args(small_run, tmp_path / "count" / "t"))
    k = _point(counted.points, "open", 3)
    code, _ = _export(tmp_path, _csv_args(small_run, out, "--force"), k, "SIGTERM")
    assert code == 143
    assert folder_contents(out) == before
    code, _ = _export(tmp_path, _csv_args(small_run, out, "--force"), k, "ENOSPC")
    assert code == 4
    assert "the files there are as they were" in " ".join(capsys.readouterr().err.split())
    visible = {k: v for k, v in folder_contents(out).items() if not k.startswith(".")}
    assert visible == before


def test_forced_csv_export_stopped_while_moving_its_tables_in_puts_them_back(
    small_run, tmp_path, python_sigint
):
    out = tmp_path / "tables"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    code, counted = _export(tmp_path / "count", _csv_args(small_run, tmp_path / "count" / "t"))
    (out / "array-row-column.csv").write_text("an older export")
    (out / "attributes.csv").write_text("older attributes")
    before = folder_contents(out)
    _, counted = _export(tmp_path, _csv_args(small_run, out, "--force"))
    for name, data in before.items():  # the export replaced the two tables, kept the notes
        assert ((out / name).read_bytes() == data) == (name == "notes.txt")
    for name, data in before.items():
        (out / name).write_bytes(data)
    for path in set(out.iterdir()) - {out / n for n in before}:
        path.unlink()
    moves = [i for i, p in enumerate(counted.points, 1) if p.startswith("replace")]
    assert len(moves) >= 3
    code, _ = _export(tmp_path, _csv_args(small_run, out, "--force"), moves[-2], "SIGTERM")
    assert code == 143
    assert folder_contents(out) == before


@pytest.mark.parametrize(("fmt", "suffix"), [("netcdf", ".nc"), ("nexus", ".nxs")])
def test_file_export_stopped_leaves_nothing_behind(small_run, tmp_path, fmt, suffix, python_sigint):
    out = tmp_path / "new" / f"run{suffix}"
    args = ["export", str(small_run), "--format", fmt, "--out", str(out)]
    (tmp_path / "count").mkdir()
    code, counted = _export(tmp_path / "count", [*args[:-1], str(tmp_path / "count" / "new" / "x")])
    assert counted.seen >= 3  # the folder made, the temporary file, the move
    assert code == 0
    for k in range(1, counted.seen + 1):
        code, _ = _export(tmp_path, args, k, "SIGTERM")
        assert code == 143, k
        assert sorted(os.listdir(tmp_path)) == ["count"], k


@pytest.mark.parametrize("action", ["SIGTERM", "disk-full"])
def test_forced_csv_export_cut_short_at_any_write_leaves_the_folder_as_it_was(
    small_run, tmp_path, capsys, action, python_sigint
):
    """SIGTERM, or a full disk (removals and renames still work, as on a real one), at
    every other write point and the last (SIGTERM at the odd ones, a full disk at the even
    ones: between them every point; the suite's time): the folder is as it was, or as
    after the export, never a mix."""
    out = tmp_path / "tables"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    (out / "attributes.csv").write_text("older attributes")
    before = folder_contents(out)
    _, counted = _export(tmp_path, _csv_args(small_run, out, "--force"))
    after = folder_contents(out)
    first = 1 if action == "SIGTERM" else 2
    for k in sorted({*range(first, counted.seen + 1, 2), counted.seen}):
        for name in set(after) - set(before):
            (out / name).unlink(missing_ok=True)
        (out / "attributes.csv").write_text("older attributes")
        code, faults = _export(tmp_path, _csv_args(small_run, out, "--force"), k, action)
        state = folder_contents(out)
        visible = {n: d for n, d in state.items() if not n.startswith(".")}
        where = faults.points[k - 1]
        assert visible in (before, after), (k, where, sorted(visible))
        if action == "disk-full":  # nothing to be removed fails: nothing hidden is left
            assert (code, state) in ((4, before), (0, after)), (k, where, code, sorted(state))
            assert "No space left on device" in capsys.readouterr().err or code == 0
            continue
        # a stop while the stage is removed leaves it to the next process
        assert faults.fired and code in (0, 143), k
        if visible == after and code != 0:  # cut short only while tidying its stage away
            assert where.startswith(("unlink", "rmdir")), where
        if code == 0:
            assert visible == after, k
    capsys.readouterr()


def test_netcdf_export_onto_a_full_disk_says_so_and_leaves_nothing(small_run, tmp_path, capsys):
    """HDF5 writing the NetCDF file straight onto a disk that filled up printed a hundred
    lines of errors and crashed the process (segmentation fault), its temporary file left on
    the full disk. The file is now made in memory and written by Python: a full disk is one
    line (exit 4) and nothing stays behind, at every write point."""
    out = tmp_path / "out" / "run.nc"
    args = ["export", str(small_run), "--format", "netcdf", "--out", str(out)]
    (tmp_path / "count").mkdir()
    code, counted = _export(tmp_path / "count", [*args[:-1], str(tmp_path / "count" / "x.nc")])
    assert code == 0 and counted.seen >= 2
    # the bytes go through Python's open (HDF5's own writes are out of the harness's sight)
    assert sum(p.startswith("open") and ".nc" in p for p in counted.points) >= 2, counted.points
    for k in range(1, counted.seen + 1):
        code, _ = _export(tmp_path, args, k, "disk-full")
        err = capsys.readouterr().err
        assert code == 4 and "cannot write" in err, (k, err)
        assert sorted(os.listdir(tmp_path)) == ["count"], k


@pytest.mark.parametrize("made", [False, True], ids=["new folder", "empty folder"])
def test_csv_export_to_a_name_too_long_for_its_stage_names_the_folder(
    small_run, tmp_path, capsys, made
):
    """A folder name that fits but leaves no room for the stage's temporary tail: the
    clean-up asked whether the stage existed, which raised for its too long name, so the
    error named the temporary ('cannot use .LLL...tmp-<host>-<pid>-<hex>', exit 4 as
    an unexplained OSError) instead of the folder."""
    out = tmp_path / ("L" * 240)
    if made:
        out.mkdir()
    assert main(_csv_args(small_run, out)) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert f"error (StoreError): cannot write CSV tables into {out}: File name too long" in err
    assert ".tmp-" not in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ([out.name] if made else [])
