"""Output paths an adversarial pass over file and folder names found mishandled: each is
refused in one line naming the path and its cause, or works and prints what works next."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.cli import main


def _err(capsys: pytest.CaptureFixture[str]) -> str:
    return " ".join(capsys.readouterr().err.split())


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("run") / "r.h5"
    args = ["characterize", "--profile", "passive-15x15", "--arrays", "0", "--cycles", "1"]
    assert main([*args, "--no-report", "--out", str(out)]) == 0
    return out


def test_fit_profile_into_a_folder_that_is_a_file_names_it(run, tmp_path, capsys):
    # 'fit-profile RUN -o notes/p.toml' with notes a file said "cannot use notes: File
    # exists", after the fit
    (tmp_path / "notes").write_text("a file")
    assert main(["fit-profile", str(run), "-o", str(tmp_path / "notes" / "p.toml")]) == 4
    err = _err(capsys)
    assert f"{tmp_path / 'notes'} is a file, not a folder" in err
    assert "File exists" not in err
    assert (tmp_path / "notes").read_text() == "a file"
