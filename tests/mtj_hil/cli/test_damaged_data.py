"""Damaged data named: datasets carry fletcher32 checksums; show --verify and every reader
turn an unreadable dataset into exit 4 naming the file and the dataset; campaign status
--verify re-checks the run files against the index's checksums."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import h5py
import pytest

from mtj_hil.cli.main import main

LEGACY = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1"


def _damage(path: Path, size: int = 200_000) -> None:
    """Overwrite ``size`` bytes in the middle of the file (a bad disk block, a bad copy)."""
    total = path.stat().st_size
    with path.open("r+b") as fh:
        fh.seek(total // 3)
        fh.write(os.urandom(min(size, total // 2)))


def _damage_dataset(path: Path, name: str) -> None:
    """Overwrite the bytes of the first stored chunk of dataset ``name``."""
    with h5py.File(path, "r") as h5:
        info = h5[name].id.get_chunk_info(0)
    with path.open("r+b") as fh:
        fh.seek(info.byte_offset)
        fh.write(os.urandom(info.size))


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("runs")
    for die, arrays in ((1, ["--arrays", "0-7"]), (2, [])):  # die 2: the whole die
        args = ["characterize", "--die", str(die), *arrays, "--cycles", "2"]
        assert main([*args, "--out", str(folder / f"die{die}.h5"), "--no-report"]) == 0
    shutil.copy(folder / "die2.h5", folder / "bad.h5")
    _damage_dataset(folder / "bad.h5", "characterization/g_after_p")
    shutil.copy(folder / "die2.h5", folder / "wrecked.h5")
    _damage(folder / "wrecked.h5")
    return folder


def test_new_datasets_carry_fletcher32_checksums(runs):
    with h5py.File(runs / "die1.h5", "r") as h5:
        for name in ("characterization/g_after_p", "defects/codes", "defects/g_p"):
            assert h5[name].fletcher32, name


def test_show_verify_names_the_file_and_the_damaged_dataset(runs, capsys):
    assert main(["show", "--verify", str(runs / "die1.h5")]) == 0
    assert "every checksum good" in capsys.readouterr().out
    assert main(["show", "--verify", str(runs / "bad.h5")]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert f"{runs / 'bad.h5'} is damaged" in err  # the file named...
    assert "characterization/g_after_p" in err  # ...and the damaged dataset
    assert main(["show", "--verify", str(runs / "wrecked.h5")]) == 4  # 200 kB overwritten
    err = " ".join(capsys.readouterr().err.split())
    assert f"{runs / 'wrecked.h5'} is damaged" in err and "Traceback" not in err


def test_fit_profile_names_the_damaged_file_among_many(runs, tmp_path, capsys):
    files = [str(runs / "die1.h5"), str(runs / "bad.h5")]
    assert main(["fit-profile", *files, "-o", str(tmp_path / "p.toml")]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert f"{runs / 'bad.h5'} is damaged" in err  # the file named...
    assert "characterization/g_after_p" in err  # ...and the damaged dataset
    assert "Traceback" not in err
    assert not (tmp_path / "p.toml").exists()


def test_training_names_the_damaged_file(runs, tmp_path, capsys):
    args = ["train", "--method", "defect-aware", "--die", "2", "--dataset", "digits"]
    args += ["--characterization", str(runs / "bad.h5"), "--out", str(tmp_path / "n.h5")]
    assert main(args) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert f"{runs / 'bad.h5'} is damaged" in err  # the file named...
    assert "characterization/g_after_p" in err  # ...and the damaged dataset
    assert not (tmp_path / "n.h5").exists()


def test_campaign_status_verify_rechecks_the_indexed_checksums(tmp_path, capsys):
    shutil.copytree(LEGACY / "campaigns" / "tiny-lot", tmp_path / "tiny-lot")
    campaign = tmp_path / "tiny-lot" / "tiny-lot.toml"
    assert main(["campaign", "status", str(campaign)]) == 0
    # without --verify the counts are the index's: the table says so, and how to re-check
    assert "--verify re-checks every run file" in " ".join(capsys.readouterr().err.split())
    assert main(["campaign", "status", str(campaign), "--verify"]) == 0
    assert "verified: 2 indexed run files match" in capsys.readouterr().err
    _damage(tmp_path / "tiny-lot" / "out" / "lot" / "die1.h5", 2000)
    assert main(["campaign", "status", str(campaign), "--verify"]) == 4
    err = " ".join(capsys.readouterr().err.split())
    assert "lot/die1:" in err and "die1.h5 changed since it was indexed" in err
    assert "1 of 2 indexed run files do not match" in err
