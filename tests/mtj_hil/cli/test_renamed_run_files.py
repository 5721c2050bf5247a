"""A run file renamed ``.toml`` is still a run file: commands that take a run file or a TOML
file (export, view, fit-profile) tell them apart by content, not by the name's ending."""

from __future__ import annotations

import shutil

import pytest

from mtj_hil.cli.main import main
from mtj_hil.cli.view import _source
from mtj_hil.live.snapshot import RunSource
from mtj_hil.profile_fit.runs import open_runs
from mtj_hil.protocols import CharacterizationPlan
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store.image import USERBLOCK
from mtj_hil.runs.store.sniff import holds_hdf5, is_campaign_path
from mtj_hil.sim import SimulatedChip


@pytest.fixture(scope="module")
def renamed(tmp_path_factory):
    folder = tmp_path_factory.mktemp("renamed")
    run = folder / "run.h5"
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 3)
    run_characterization(
        chip, run, die_id="sim:1t1r-20k:lot0:die3", plan=CharacterizationPlan(arrays=(0,))
    )
    shutil.copy(run, folder / "run.toml")
    return folder / "run.toml"


def test_export_reads_a_renamed_run_file_as_a_run(renamed, tmp_path):
    out = tmp_path / "e.nc"
    assert main(["export", str(renamed), "--format", "netcdf", "--out", str(out)]) == 0
    assert holds_hdf5(out)


def test_view_serves_a_renamed_run_file_as_a_run(renamed):
    assert isinstance(_source(renamed), RunSource)


def test_fit_profile_reads_a_renamed_run_file(renamed):
    chars, sws = open_runs([renamed])
    assert len(chars) == 1 and not sws


def test_sniffing_by_content(renamed, tmp_path):
    text = tmp_path / "c.toml"
    text.write_text('name = "lot"\n')
    assert is_campaign_path(text) and not holds_hdf5(text)
    assert not is_campaign_path(renamed)
    assert not holds_hdf5(tmp_path) and not holds_hdf5(tmp_path / "missing.toml")
    # a run file whose HDF5 is damaged past its header is still a run file (named as damaged
    # by the store), never parsed as TOML
    damaged = tmp_path / "d.toml"
    data = bytearray(renamed.read_bytes())
    data[USERBLOCK : USERBLOCK + 8] = bytes(8)
    damaged.write_bytes(bytes(data))
    assert holds_hdf5(damaged) and not is_campaign_path(damaged)
