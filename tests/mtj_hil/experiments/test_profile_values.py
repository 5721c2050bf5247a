"""A profile file edited since (same name, so the same die id) makes another die: a
characterisation or a network of the die before the edit is refused on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.errors import ConfigError, StoreError
from mtj_hil.experiments.single import TrainSpec, train_network
from mtj_hil.experiments.single_eval import evaluate_network


def _profile_file(folder: Path, short_rate: str = "0.002") -> Path:
    """A copy of the shipped 1t1r-20k profile (same name), with ``short_rate`` set."""
    import mtj_hil.sim

    text = (Path(mtj_hil.sim.__file__).parent / "profiles" / "1t1r-20k.toml").read_text()
    assert "\nshort_rate = 0.002\n" in text
    path = folder / "mine.toml"
    path.write_text(text.replace("\nshort_rate = 0.002\n", f"\nshort_rate = {short_rate}\n"))
    return path


def _spec(tmp_path: Path, profile: Path, char_file: Path | None) -> TrainSpec:
    """A one-epoch network for die 2: defect-aware on ``char_file``, or unaware (None)."""
    return TrainSpec(
        method="defect-aware" if char_file is not None else "unaware",
        die=2,
        out=tmp_path / "n.h5",
        dataset="digits",
        hidden=(8,),
        epochs=1,
        profile=str(profile),
        **({"characterization": [char_file]} if char_file is not None else {}),
    )


def _no_work(*args, **kwargs):
    raise AssertionError("training started")


def test_a_characterisation_of_the_die_before_its_profile_was_edited_is_refused(
    tmp_path, char_file, monkeypatch
):
    monkeypatch.setattr("mtj_hil.experiments.single.train_unaware", _no_work)
    edited = _profile_file(tmp_path, "0.02")
    with pytest.raises(StoreError, match=r"other profile values \(defects\.short_rate differ\)"):
        train_network(_spec(tmp_path, edited, char_file))
    # the same values under a file of its own are the same die
    with pytest.raises(AssertionError, match="training started"):
        train_network(_spec(tmp_path, _profile_file(tmp_path), char_file))


def test_a_die_bound_network_is_refused_on_its_die_after_the_profile_was_edited(
    tmp_path, char_file
):
    profile = _profile_file(tmp_path)
    spec = _spec(tmp_path, profile, char_file)
    train_network(spec)
    profile.write_text(profile.read_text().replace("short_rate = 0.002", "short_rate = 0.02"))
    with pytest.raises(ConfigError, match=r"trained for profile .*mine\.toml with other values"):
        evaluate_network(spec.out, 2)


def test_an_unaware_network_is_evaluated_after_the_edit_but_it_is_said(tmp_path):
    """An unaware network is not tied to one die: evaluated on the die the profile file
    describes now, with a warning naming what changed (it was silent)."""
    from mtj_hil.experiments.single_eval import ProfileChangedWarning

    profile = _profile_file(tmp_path)
    spec = _spec(tmp_path, profile, None)
    train_network(spec)
    import warnings

    with warnings.catch_warnings():  # the profile as trained: no warning
        warnings.simplefilter("error", ProfileChangedWarning)
        evaluate_network(spec.out, 2)
    profile.write_text(profile.read_text().replace("short_rate = 0.002", "short_rate = 0.02"))
    with pytest.warns(ProfileChangedWarning, match=r"defects\.short_rate"):
        result = evaluate_network(spec.out, 2)
    assert 0.0 <= result["software_error"] <= 1.0
