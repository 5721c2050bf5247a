"""An output that is one of the command's inputs under another name (a hard link, a
symbolic link) is refused, even with --force: the check is by file identity, not by path."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

import mtj_hil
from mtj_hil.cli import main


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("run")
    return mtj_hil.characterize(mtj_hil.simulated_die(2), folder / "char.h5", arrays=[0]).path


def _other_names(run: Path, folder: Path) -> list[Path]:
    hard, soft = folder / "hard-link.nc", folder / "sym-link.nc"
    os.link(run, hard)
    soft.symlink_to(run)
    return [hard, soft]


@pytest.mark.parametrize("fmt", ["netcdf", "nexus"])
def test_export_onto_another_name_of_its_run_is_refused(run, tmp_path, capsys, fmt):
    before = run.read_bytes()
    for name in _other_names(run, tmp_path):
        args = ["export", str(run), "--format", fmt, "--force", "--out", str(name)]
        assert main(args) == 4, name
        err = " ".join(capsys.readouterr().err.split())
        assert f"{name} is the run file itself" in err and "not even --force" in err
        assert os.path.samefile(name, run)  # still the run, not replaced by the export
    assert run.read_bytes() == before


def test_fit_profile_onto_another_name_of_a_run_is_refused(run, tmp_path, capsys):
    before = run.read_bytes()
    for name in _other_names(run, tmp_path):
        assert main(["fit-profile", str(run), "-o", str(name), "--force"]) == 4, name
        err = " ".join(capsys.readouterr().err.split())
        assert f"{name} is one of the runs to fit" in err
        assert os.path.samefile(name, run)
    assert run.read_bytes() == before


def test_a_new_output_beside_the_run_is_still_written(run, tmp_path):
    out = tmp_path / "fresh.nc"
    assert main(["export", str(run), "--format", "netcdf", "--out", str(out)]) == 0
    assert out.exists() and not os.path.samefile(out, run)
