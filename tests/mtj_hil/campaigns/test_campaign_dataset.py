"""A campaign's dies as one Dataset, and its export."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
import xarray as xr

import mtj_hil
from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.engine import run_campaign
from mtj_hil.cli import main
from mtj_hil.errors import ConfigError

CAMPAIGN = """
[campaign]
name = "mini"
out_dir = "out"

[[task]]
name = "lot"
kind = "characterize"
dies = "0-2"
arrays = "0-1"
cycles = 2

[[task]]
name = "whole"                   # never run: what a borders group needs, every array
kind = "characterize"
dies = "0"

[[task]]
name = "sweep"
kind = "borders"
characterization = "whole"
seeds = [0]
dataset = "digits"
"""


@pytest.fixture(scope="module")
def campaign(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("campaign")
    path = folder / "mini.toml"
    path.write_text(CAMPAIGN)
    spec = load_campaign(path)
    lot_only = replace(spec, tasks=tuple(t for t in spec.tasks if t.group == "lot"))
    assert run_campaign(lot_only).ok  # in this process; the borders group is never run
    return path


def test_the_lot_is_one_dataset_over_dies(campaign: Path):
    ds = mtj_hil.campaign_dataset(campaign)
    assert ds.sizes["die"] == 3 and ds.attrs["group"] == "lot"
    assert list(ds.die.values) == [f"sim:1t1r-20k:lot0:die{d}" for d in range(3)]
    assert "conductance" not in ds  # raw reads only with raw=True
    spec = load_campaign(campaign)
    for task, die in zip(spec.tasks, ds.die.values, strict=False):
        one = mtj_hil.load(task.run_file)
        np.testing.assert_array_equal(ds.defect.sel(die=die).values, one.defect.values)
        np.testing.assert_array_equal(ds.resistance.sel(die=die).values, one.resistance.values)
        assert float(ds["yield"].sel(die=die)) == float((one.defect == 0).mean())
        assert str(ds.run_file.sel(die=die).values) == str(task.run_file)
    assert ds.resistance.attrs["units"] == "ohm" and ds["yield"].attrs["units"] == "1"
    raw = mtj_hil.campaign_dataset(campaign, "lot", raw=True)
    assert raw.conductance.dims[0] == "die" and raw.sizes["cycle"] == 2


def test_an_unfinished_die_is_listed_as_missing(campaign: Path, tmp_path: Path):
    spec = load_campaign(campaign)
    first = Path(spec.tasks[0].run_file)
    hidden = tmp_path / "hidden.h5"
    first.rename(hidden)
    try:
        ds = mtj_hil.campaign_dataset(campaign)
    finally:
        hidden.rename(first)
    assert ds.sizes["die"] == 2 and spec.tasks[0].id in ds.attrs["missing"]
    assert ds.attrs["dies_expected"] == 3 and "status" not in ds.attrs


def test_an_export_short_of_dies_says_so(campaign: Path, tmp_path: Path, capsys):
    """A campaign exported mid-run printed only "wrote ...", and its file said status
    completed, the gaps in one attribute."""
    spec = load_campaign(campaign)
    first = Path(spec.tasks[0].run_file)
    hidden = tmp_path / "hidden.h5"
    first.rename(hidden)
    try:
        out = tmp_path / "lot.nc"
        assert main(["export", str(campaign), "--format", "netcdf", "--out", str(out)]) == 0
    finally:
        hidden.rename(first)
    said = " ".join(capsys.readouterr().err.split())
    assert "warning: 2 of 3 dies exported; 1 missing (lot/die0)" in said


@pytest.mark.parametrize("index", ["kept", "lost"])
def test_a_run_file_copied_over_another_die_s_is_refused(campaign: Path, tmp_path, index):
    """die1's run file copied over die2's: the export stacked it as die2's slot, with die1's
    numbers and a die label twice. The index's checksum of the file names the change; with
    no index, two files of one die do."""
    import shutil

    from mtj_hil.errors import StoreError

    spec = load_campaign(campaign)
    second, third = (Path(t.run_file) for t in spec.tasks[1:3])
    saved, saved_index = tmp_path / "die2.h5", tmp_path / "campaign.h5"
    shutil.copy2(third, saved)
    shutil.copy2(spec.index_path, saved_index)
    try:
        shutil.copy2(second, third)
        if index == "lost":
            spec.index_path.unlink()
        message = "changed since the campaign indexed it" if index == "kept" else "both hold die"
        with pytest.raises(StoreError, match=message):
            mtj_hil.campaign_dataset(campaign)
    finally:
        shutil.copy2(saved, third)
        shutil.copy2(saved_index, spec.index_path)
    assert mtj_hil.campaign_dataset(campaign).sizes["die"] == 3


def test_groups_that_are_not_die_measurements_are_refused(campaign: Path):
    with pytest.raises(ConfigError, match="borders"):
        mtj_hil.campaign_dataset(campaign, "sweep")
    with pytest.raises(ConfigError, match="no task group 'nope'"):
        mtj_hil.campaign_dataset(campaign, "nope")


def test_export_of_a_campaign_round_trips(campaign: Path, tmp_path: Path, capsys):
    out = tmp_path / "lot.nc"
    assert main(["export", str(campaign), "--format", "netcdf", "--out", str(out)]) == 0
    ds = mtj_hil.campaign_dataset(campaign)
    with xr.open_dataset(out) as back:
        for name in ds.data_vars:
            np.testing.assert_array_equal(back[name].values, ds[name].values)
            assert back[name].attrs.get("units") == ds[name].attrs.get("units")
    assert main(["export", str(campaign), "--format", "netcdf", "--out", str(out)]) == 4
    assert main(["export", str(campaign), "--format", "csv", "--out", str(tmp_path / "t")]) == 0
    assert (tmp_path / "t" / "die.csv").exists()
    assert main(["export", str(campaign), "--format", "netcdf", "--group", "sweep"]) == 3


def test_export_never_overwrites_the_campaign_s_own_files(campaign: Path, capsys):
    spec = load_campaign(campaign)
    run = spec.tasks[0].run_file
    for target in (campaign, spec.index_path, run):
        before = target.read_bytes()
        args = ["export", str(campaign), "--format", "netcdf", "--force", "--out", str(target)]
        assert main(args) == 4
        assert "choose another --out (not even --force)" in capsys.readouterr().err
        assert target.read_bytes() == before


def test_a_campaign_export_that_fails_part_way_leaves_no_file(
    campaign: Path, tmp_path: Path, capsys, monkeypatch
):
    """A full disk half-way through the netCDF file leaves no half-written file at the
    target (it is written aside and moved into place)."""
    import builtins

    import mtj_hil.labelled.export as export_module

    def half_written(path, mode="r", *args, **kwargs):
        if "w" in mode and str(path).endswith(".nc"):
            Path(path).write_bytes(b"\x89HDF\r\n\x1a\n half")
            raise OSError(28, "No space left on device")
        return builtins.open(path, mode, *args, **kwargs)

    monkeypatch.setattr(export_module, "open", half_written, raising=False)
    out = tmp_path / "lot.nc"
    assert main(["export", str(campaign), "--format", "netcdf", "--out", str(out)]) == 4
    assert "No space left on device" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []
