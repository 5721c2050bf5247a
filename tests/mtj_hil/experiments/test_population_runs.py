"""The population runs of statistics-aware training: one run per die, of one profile."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from mtj_hil.errors import StoreError
from mtj_hil.experiments.single import TrainSpec, train_network
from mtj_hil.runs.store.runfile import RunFile


def _no_work(*args, **kwargs):
    raise AssertionError("training started")


def _as_profile(char_file: Path, folder: Path, name: str, die: int) -> Path:
    """A copy of ``char_file`` recorded as die ``die`` of a simulated lot of profile ``name``
    (same layout and nominal conductances, as 1t1r-weak-shorts has beside 1t1r-20k)."""
    path = folder / f"{name}-{die}.h5"
    shutil.copy(char_file, path)
    with RunFile.open(path, "a") as run:
        station = run.attrs["station"]
        station["profile"]["name"] = name
        run.set_attrs("", station=json.dumps(station), die_id=f"sim:{name}:lot0:die{die}")
    return path


def _spec(tmp_path: Path, files: list[Path]) -> TrainSpec:
    return TrainSpec(
        method="statistics-aware",
        die=0,
        out=tmp_path / "n.h5",
        dataset="digits",
        hidden=(16,),
        characterization=files,
    )


@pytest.fixture
def no_training(monkeypatch):
    monkeypatch.setattr("mtj_hil.experiments.single.train_unaware", _no_work)


def test_a_die_given_twice_is_refused_before_training(tmp_path, char_file, no_training):
    with pytest.raises(StoreError, match=r"die 'sim:1t1r-20k:lot0:die2' appears in more than"):
        train_network(_spec(tmp_path, [char_file, char_file]))
    assert not (tmp_path / "n.h5").exists()


def test_runs_of_another_profile_of_the_same_layout_are_refused(tmp_path, char_file, no_training):
    weak = _as_profile(char_file, tmp_path, "1t1r-weak-shorts", 3)
    with pytest.raises(StoreError, match=r"profile '1t1r-weak-shorts', not '1t1r-20k'"):
        train_network(_spec(tmp_path, [weak]))


def test_runs_of_two_profiles_are_refused(tmp_path, char_file, no_training):
    a = _as_profile(char_file, tmp_path, "1t1r-lab-wafer", 3)
    b = _as_profile(char_file, tmp_path, "1t1r-weak-shorts", 4)
    spec = _spec(tmp_path, [a, b])
    spec.profile = "1t1r-lab-wafer"
    with pytest.raises(StoreError, match=r"different profiles \('1t1r-lab-wafer', '1t1r-weak"):
        train_network(spec)


def test_runs_of_distinct_dies_of_the_profile_are_taken(tmp_path, char_file, monkeypatch):
    other = _as_profile(char_file, tmp_path, "1t1r-20k", 5)
    started = []
    monkeypatch.setattr(
        "mtj_hil.experiments.single.train_unaware", lambda *a, **k: started.append(1) or _no_work()
    )
    with pytest.raises(AssertionError, match="training started"):
        train_network(_spec(tmp_path, [char_file, other]))
    assert started
