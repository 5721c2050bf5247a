"""``mtj-hil export``: NetCDF, CSV and NeXus outputs; never an overwrite without --force; a
foreign, damaged or unfinished file is one line naming it, exit code 4."""

from __future__ import annotations

import json
import shutil

import h5py
import numpy as np
import pandas as pd
import pytest
import xarray as xr
from nexusformat.nexus import nxload

import mtj_hil
from mtj_hil.cli import main
from mtj_hil.runs.store import RunFile


def one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = [line for line in (captured.out + captured.err).splitlines() if line.strip()]
    assert len(lines) == 1, lines
    return lines[0]


@pytest.mark.parametrize("kind", ["characterization", "switching"])
def test_netcdf_export_opens_in_xarray(runs, kind, tmp_path, capsys):
    out = tmp_path / f"{kind}.nc"
    assert main(["export", str(runs[kind]), "--format", "netcdf", "--out", str(out)]) == 0
    assert f"wrote {out}" in capsys.readouterr().err
    with xr.open_dataset(out) as back:
        ds = mtj_hil.load(runs[kind])
        assert set(back.data_vars) == set(ds.data_vars)
        assert back.attrs["run_id"] == ds.attrs["run_id"]


def test_netcdf_coordinates_of_a_run_measured_out_of_order_increase(runs, tmp_path):
    """The fixture measured arrays 3, 0, 1, 2: the NetCDF file's array coordinate kept that
    order, which CF forbids for a coordinate variable (strictly monotonic), and xarray's
    sel(array=slice(0, 1)) on it came back short. Values stay with their arrays; the
    measurement order is still in arrays_done."""
    out = tmp_path / "c.nc"
    assert (
        main(["export", str(runs["characterization"]), "--format", "netcdf", "--out", str(out)])
        == 0
    )
    ds = mtj_hil.load(runs["characterization"])
    assert list(ds.array.values) == [3, 0, 1, 2]  # the dataset itself: plan order
    with xr.open_dataset(out) as back:
        for dim in back.dims:
            if back[dim].dtype.kind in "iuf":
                assert (np.diff(back[dim].values) > 0).all(), dim
        assert list(back.sel(array=slice(0, 1)).array.values) == [0, 1]
        assert json.loads(back.attrs["arrays_done"]) == json.loads(ds.attrs["arrays_done"])
        for name in ("defect", "conductance_mean", "confidence", "array_start"):
            for a in (3, 0):
                np.testing.assert_array_equal(
                    back[name].sel(array=a).values, ds[name].sel(array=a).values
                )


def test_default_output_lies_beside_the_run_and_is_never_overwritten(runs, tmp_path, capsys):
    run = tmp_path / "die.h5"
    shutil.copyfile(runs["characterization"], run)
    assert main(["export", str(run), "--format", "netcdf"]) == 0
    nc = tmp_path / "die.nc"
    before = nc.read_bytes()
    capsys.readouterr()
    assert main(["export", str(run), "--format", "netcdf"]) == 4
    line = one_line_error(capsys)
    assert str(nc) in line and "--force" in line
    assert nc.read_bytes() == before
    assert main(["export", str(run), "--format", "netcdf", "--force"]) == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["die.h5", "die.nc"]


def test_csv_tables_for_spreadsheets(runs, tmp_path, capsys):
    folder = tmp_path / "tables"
    assert (
        main(["export", str(runs["characterization"]), "--format", "csv", "--out", str(folder)])
        == 0
    )
    devices = pd.read_csv(folder / "array-row-column.csv")
    ds = mtj_hil.load(runs["characterization"])
    assert len(devices) == ds.defect.size
    assert set(devices["defect"]) <= {"GOOD", "SHORT", "OPEN", "STUCK_P", "STUCK_AP", "UNCERTAIN"}
    per_state = pd.read_csv(folder / "array-state-row-column.csv")
    assert "resistance [ohm]" in per_state.columns and "conductance_mean [S]" in per_state.columns
    first = per_state.iloc[0]
    cell = ds.sel(
        array=first["array"], state=first["state"], row=first["row"], column=first["column"]
    )
    assert first["resistance [ohm]"] == pytest.approx(float(cell.resistance), rel=1e-15)
    attrs = pd.read_csv(folder / "attributes.csv").set_index("attribute")["value"]
    assert attrs["run_id"] == ds.attrs["run_id"]
    capsys.readouterr()
    assert (
        main(["export", str(runs["characterization"]), "--format", "csv", "--out", str(folder)])
        == 4
    )
    line = one_line_error(capsys)
    assert str(folder) in line and "--force" in line


def test_nexus_copy_of_a_file_from_before_nexus(runs, tmp_path):
    legacy = runs["legacy-switching"]
    with h5py.File(legacy) as h5:
        assert "entry" not in h5  # written by 0.1
    out = tmp_path / "old.nxs"
    assert main(["export", str(legacy), "--format", "nexus", "--out", str(out)]) == 0
    plot = nxload(str(out)).plottable_data
    assert plot.nxsignal.nxname == "wer_median"
    with h5py.File(legacy) as h5:
        np.testing.assert_array_equal(plot.nxsignal.nxdata, h5["switching_fit/AP/wer_median"][()])
        assert "entry" not in h5  # the original is left alone


def test_nexus_copy_of_a_current_run_reads_back(runs, tmp_path, capsys):
    """The copy is written like a run file (checksummed header), not patched in place: the
    tool reads it back instead of calling it damaged."""
    out = tmp_path / "char-nexus.h5"
    assert (
        main(["export", str(runs["characterization"]), "--format", "nexus", "--out", str(out)]) == 0
    )
    assert main(["show", "--verify", str(out)]) == 0, capsys.readouterr().err
    xr.testing.assert_identical(mtj_hil.load(out), mtj_hil.load(runs["characterization"]))
    assert nxload(str(out)).plottable_data.nxname == "die_map"


def test_a_netcdf_export_is_not_taken_for_a_run_file(runs, tmp_path, capsys):
    out = tmp_path / "char.nc"
    assert (
        main(["export", str(runs["characterization"]), "--format", "netcdf", "--out", str(out)])
        == 0
    )
    capsys.readouterr()
    assert main(["show", str(out)]) == 4
    line = one_line_error(capsys)
    assert str(out) in line and "netCDF" in line and "xarray.open_dataset" in line


def test_a_foreign_hdf5_file_is_refused(tmp_path, capsys):
    foreign = tmp_path / "other-tool.h5"
    with h5py.File(foreign, "w") as h5:
        h5["data"] = np.arange(3)
    assert main(["export", str(foreign), "--format", "netcdf"]) == 4
    line = one_line_error(capsys)
    assert str(foreign) in line and "not an mtj-hil run file" in line
    assert not (tmp_path / "other-tool.nc").exists()


def test_a_text_file_is_refused(tmp_path, capsys):
    text = tmp_path / "notes.h5"
    text.write_text("not hdf5")
    assert main(["export", str(text), "--format", "csv"]) == 4
    assert str(text) in one_line_error(capsys)


def test_an_unfinished_run_is_refused(runs, tmp_path, capsys):
    run = runs["legacy-characterization-interrupted"]
    assert main(["export", str(run), "--format", "netcdf", "--out", str(tmp_path / "x.nc")]) == 4
    line = one_line_error(capsys)
    assert str(run) in line and "unfinished" in line and "--resume" in line
    assert not (tmp_path / "x.nc").exists()


def test_a_damaged_dataset_is_named(runs, tmp_path, capsys):
    run = tmp_path / "damaged.h5"
    shutil.copyfile(runs["characterization"], run)
    with h5py.File(run) as h5:
        chunk = h5["characterization/g_after_p"].id.get_chunk_info(0)
    with open(run, "r+b") as fh:  # scribble over the first compressed chunk
        fh.seek(chunk.byte_offset)
        fh.write(b"\xff" * chunk.size)
    assert main(["export", str(run), "--format", "netcdf"]) == 4
    line = one_line_error(capsys)
    assert str(run) in line and "characterization/g_after_p" in line
    assert not (tmp_path / "damaged.nc").exists()
    assert [p.name for p in tmp_path.iterdir()] == ["damaged.h5"]


def test_damaged_provenance_is_named(runs, tmp_path, capsys):
    # bad provenance written through the store (the checksum holds): decoding it fails
    run = tmp_path / "bad-attrs.h5"
    shutil.copyfile(runs["switching"], run)
    with RunFile.open(run, "a") as writer:
        writer.set_attrs("", plan="{not json")
    assert main(["export", str(run), "--format", "netcdf"]) == 4
    line = one_line_error(capsys)
    assert str(run) in line and "attributes" in line
    # edited by hand behind the store's back: the checksum names the file as damaged first
    edited = tmp_path / "edited-attrs.h5"
    shutil.copyfile(runs["switching"], edited)
    with h5py.File(edited, "a") as h5:
        h5.attrs["plan"] = "{not json"
    assert main(["export", str(edited), "--format", "netcdf"]) == 4
    line = one_line_error(capsys)
    assert str(edited) in line and "damaged" in line


@pytest.mark.parametrize("fmt", ["netcdf", "nexus"])
def test_an_output_that_is_a_folder_or_cannot_be_made_is_named_as_given(
    runs, tmp_path, capsys, fmt
):
    folder = tmp_path / "a folder"
    folder.mkdir()
    args = ["export", str(runs["characterization"]), "--format", fmt, "--force", "--out"]
    assert main([*args, str(folder)]) == 4
    assert f"{folder} is a folder; give the file to write as --out" in one_line_error(capsys)
    # said first, not "exists ... add --force" (which would not help)
    assert main([*args[:-2], "--out", str(folder)]) == 4
    assert f"{folder} is a folder; give the file to write as --out" in one_line_error(capsys)
    assert list(folder.iterdir()) == []  # no temporary file left in it, nor beside it
    assert sorted(p.name for p in tmp_path.iterdir()) == ["a folder"]
    blocked = tmp_path / "plain file"
    blocked.write_text("x")
    assert main([*args, str(blocked / "out.nc")]) == 4
    assert f"cannot write {blocked / 'out.nc'}" in one_line_error(capsys)


@pytest.mark.parametrize("fmt", ["netcdf", "nexus", "csv"])
def test_a_link_to_nowhere_is_not_replaced_without_force(runs, tmp_path, capsys, fmt):
    # '--out link' with the link's target missing replaced the link by the export (netcdf,
    # nexus) or said 'Not a directory' (csv); fit-profile and train refused it as existing
    link = tmp_path / "link"
    link.symlink_to(tmp_path / "gone" / "x")
    assert main(["export", str(runs["characterization"]), "--format", fmt, "--out", str(link)]) == 4
    said = one_line_error(capsys)
    assert f"{link} already exists (a link to {tmp_path / 'gone' / 'x'}, not there)" in said
    assert link.is_symlink() and sorted(p.name for p in tmp_path.iterdir()) == ["link"]


def test_csv_into_the_current_folder_by_a_dot(runs, tmp_path, monkeypatch, capsys):
    # --out . ended in "ValueError: PosixPath('.') has an empty name" (exit 1)
    here = tmp_path / "here"
    here.mkdir()
    monkeypatch.chdir(here)
    args = ["export", str(runs["characterization"]), "--format", "csv", "--force"]
    assert main([*args, "--out", "."]) == 0
    assert (here / "attributes.csv").exists()
    assert [p.name for p in here.iterdir() if p.name.startswith(".")] == []


@pytest.mark.parametrize("out", [" ", "-", "sub/  "])
def test_an_output_named_dash_or_spaces_is_refused(runs, tmp_path, monkeypatch, capsys, out):
    # they made files named "-" and " " in the working folder
    monkeypatch.chdir(tmp_path)
    before = sorted(p.name for p in tmp_path.iterdir())
    assert main(["export", str(runs["characterization"]), "--format", "netcdf", "--out", out]) == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == before
