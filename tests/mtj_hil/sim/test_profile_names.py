"""A shipped profile's name means the shipped profile, whatever the working folder holds:
a folder named after it (a common place for its runs) broke every command that loads it,
and a file of that name silently replaced it."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.cli import main
from mtj_hil.sim.profile import PROFILE_DIR, load_profile


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().err.split())


def test_a_folder_named_after_a_profile_does_not_hide_it(tmp_path, monkeypatch, capsys):
    # 'mkdir 1t1r-20k; mtj-hil profiles' said "profile file 1t1r-20k is a folder, not a file"
    monkeypatch.chdir(tmp_path)
    (tmp_path / "1t1r-20k").mkdir()
    assert main(["profiles"]) == 0
    assert main(["characterize", "--arrays", "0", "--cycles", "1", "--no-report",
                 "--profile", "1t1r-20k", "--out", "r.h5"]) == 0  # fmt: skip
    assert "warning" not in _err(capsys)
    assert load_profile("1t1r-20k") == load_profile(PROFILE_DIR / "1t1r-20k.toml")


def test_a_file_named_like_a_shipped_profile_is_read_only_as_a_path(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    shipped = load_profile(PROFILE_DIR / "passive-15x15.toml")
    text = (PROFILE_DIR / "1t1r-20k.toml").read_text(encoding="utf-8")
    Path("passive-15x15").write_text(text, encoding="utf-8")  # another die under its name
    with pytest.warns(UserWarning, match=r"give \./passive-15x15 to load that file"):
        assert load_profile("passive-15x15") == shipped
    assert load_profile("./passive-15x15").name == "1t1r-20k"  # as a path: the file
    assert load_profile(Path("passive-15x15")).name == "1t1r-20k"


def test_the_profiles_listing_does_not_warn_of_files_beside_it(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    Path("1t1r-20k").write_text("not a profile", encoding="utf-8")
    assert main(["profiles"]) == 0
    assert "warning" not in _err(capsys)


def test_fit_profile_named_like_a_shipped_profile_says_how_to_load_it(
    tmp_path, monkeypatch, capsys
):
    # 'fit-profile RUN -o 1t1r-20k' said "loads with --profile 1t1r-20k": the shipped one
    monkeypatch.chdir(tmp_path)
    args = ["characterize", "--profile", "passive-15x15", "--arrays", "0", "--cycles", "1"]
    assert main([*args, "--no-report", "--out", "r.h5"]) == 0
    capsys.readouterr()
    assert main(["fit-profile", "r.h5", "-o", "1t1r-20k"]) == 0
    said = capsys.readouterr()
    out = " ".join((said.out + said.err).split())
    assert "loads with --profile ./1t1r-20k)" in out
    assert load_profile("./1t1r-20k").name == "1t1r-20k"


def test_a_network_file_records_the_shipped_profile_it_was_trained_on(tmp_path, monkeypatch):
    # a file '1t1r-20k' in the working folder was recorded as the profile (its absolute
    # path), so 'evaluate' would load that file, not the die the network was trained on
    from mtj_hil.experiments.single import _recorded_profile

    monkeypatch.chdir(tmp_path)
    Path("1t1r-20k").write_text("not a profile", encoding="utf-8")
    assert _recorded_profile("1t1r-20k") == "1t1r-20k"
    Path("mine.toml").write_text("", encoding="utf-8")
    assert _recorded_profile("mine.toml") == str(tmp_path / "mine.toml")
