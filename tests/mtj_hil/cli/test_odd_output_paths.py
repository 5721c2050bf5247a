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


@pytest.mark.parametrize("name", ["my fit;x.toml", "-fit.toml", "new\nline.toml"])
def test_fit_profile_prints_a_profile_option_that_pastes_whole(
    name, run, tmp_path, capsys, monkeypatch
):
    # 'wrote my fit;x.toml (loads with --profile my fit;x.toml)': pasted, the option split
    # in two and ran a second command
    import shlex

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("COLUMNS", "500")
    assert main(["fit-profile", str(run), "-o", name]) == 0
    said = capsys.readouterr().err.splitlines()[-1]
    option = said.split("(loads with ", 1)[1].removesuffix(")")
    if "\n" in name:  # bash's $'...' form, which shlex does not read
        assert option == "--profile $'new\\nline.toml'"
        return
    assert shlex.split(option) == ["--profile", f"./{name}" if name[0] == "-" else name]
    assert main(["characterize", *shlex.split(option), "--arrays", "0", "--cycles", "1",
                 "--no-report", "--out", "again.h5"]) == 0  # fmt: skip


def test_the_file_a_hint_says_to_delete_is_spelled_for_a_shell(tmp_path, monkeypatch):
    # 'delete -net.h5 and train again': rm read the name as options
    from mtj_hil.runs.store.resume import resume_hint

    monkeypatch.chdir(tmp_path)
    attrs = {"kind": "network", "command": "mtj-hil train --die 0 --out ./-net.h5"}
    hint = resume_hint(attrs, Path("-net.h5"))
    assert hint.startswith("delete ./-net.h5 and train again: mtj-hil train --die 0 ")
    assert resume_hint(attrs, Path("a\tb.h5")).startswith("delete $'a\\tb.h5' and train")


def test_a_folder_that_cannot_be_written_is_named_by_the_output_not_the_probe(
    run, tmp_path, capsys, monkeypatch
):
    # a read-only folder (root is not refused by permissions: the system's own error as
    # mkstemp raises it on a read-only mount) said 'cannot use <folder>/.mtj-hil-probe-
    # 5t26aqgg: Read-only file system' for 'experiment goodwill --out-dir', 'fit-profile -o'
    import errno

    from mtj_hil.fileio import writable

    def read_only(folder: Path) -> None:
        raise OSError(errno.EROFS, "Read-only file system", f"{folder}/.mtj-hil-probe-5t26aqgg")

    monkeypatch.setattr(writable, "_make_probe", read_only)
    out = tmp_path / "p.toml"
    assert main(["fit-profile", str(run), "-o", str(out)]) == 4
    err = _err(capsys)
    assert f"cannot use {out}: Read-only file system" in err
    assert "probe" not in err


def test_a_deep_relative_folder_the_writer_can_use_is_not_refused_by_its_probe(
    run, tmp_path, capsys, monkeypatch
):
    # the probe was made by tempfile.mkstemp, which makes its folder absolute: a relative
    # path within PATH_MAX under a working folder that took it past PATH_MAX was refused
    # ('cannot use …/p.toml: File name too long') though the output could be written
    import os

    monkeypatch.chdir(tmp_path)
    path_max = os.pathconf(".", "PC_PATH_MAX")
    room = path_max - 45  # the relative path has room for the output's companions
    folder = os.path.join(*["d" * 200] * (room // 201), "e" * (room % 201 or 1))
    probe = len("/.mtj-hil-probe-5t26aqgg")
    assert len(folder) == room and len(str(tmp_path / folder)) + probe >= path_max
    out = os.path.join(folder, "p.toml")
    assert main(["fit-profile", str(run), "-o", out]) == 0, _err(capsys)
    assert os.listdir(folder) == ["p.toml"]


@pytest.mark.parametrize(
    "command",
    [
        ["experiment", "goodwill", "--solutions", "2", "--epochs", "1", "--no-daffodil"],
        ["experiment", "borders", "--dataset", "digits", "--dies", "1", "--seeds", "2"],
    ],
    ids=["goodwill", "borders"],
)
def test_an_experiment_folder_too_deep_for_its_run_file_is_refused_before_the_work(
    command, tmp_path, capsys, monkeypatch
):
    # a folder whose path fit a temporary name beside goodwill.h5 but not the run file's
    # own companions passed the check, ran the whole experiment, then failed as it made
    # the run file: "cannot create run file …/goodwill.h5: the path has … bytes"
    import os

    import mtj_hil.experiments.borders as borders
    import mtj_hil.experiments.goodwill as goodwill

    def never(*args, **kwargs):
        raise AssertionError("the experiment ran")

    monkeypatch.setattr(goodwill, "run_goodwill", never)
    monkeypatch.setattr(borders, "run_borders_seeds", never)
    monkeypatch.chdir(tmp_path)
    run_file = "goodwill.h5" if command[1] == "goodwill" else "seed-1/borders.h5"
    path_max = os.pathconf(".", "PC_PATH_MAX")
    deep = os.path.join(*["d" * 250] * 15)
    room = path_max - 40 - len(deep) - len(run_file) - 2  # 40: within the run file's headroom
    folder = os.path.join(deep, "e" * (room // 2), "f" * (room - room // 2))
    os.makedirs(deep)
    assert main([*command, "--out-dir", folder]) == 4
    err = _err(capsys)
    assert f"cannot use {folder}/{run_file}: the path has " in err
    assert os.listdir(deep) == []


@pytest.mark.parametrize(
    "args",
    [["show"], ["view"], ["export", "--format", "csv"], ["characterize", "--resume", "--out"]],
)
def test_a_name_ending_in_a_space_is_said_so(tmp_path, capsys, monkeypatch, args):
    """``show 'run.h5 '`` said "run file run.h5  does not exist": the space that made the
    name another is invisible in the message, beside a run.h5 that does exist."""
    monkeypatch.chdir(tmp_path)
    Path("run.h5").touch()
    assert main([*args, "run.h5 "]) == 4
    err = capsys.readouterr().err
    assert "does not exist (its name 'run.h5 ' ends with a space or tab; run.h5 exists)" in err


def test_the_hint_is_only_for_names_with_blank_edges(tmp_path):
    from mtj_hil.errors import blank_edge_hint

    assert blank_edge_hint(tmp_path / "run.h5") == ""
    assert blank_edge_hint(tmp_path / "   ") == ""  # all blank: nothing to compare with
    said = blank_edge_hint(tmp_path / "\trun.h5 ")
    assert said == " (its name '\\trun.h5 ' begins and ends with a space or tab)"


@pytest.mark.parametrize(
    ("args", "shown"),
    [
        (["show", "new\nline.h5"], "run file new\\nline.h5 does not exist"),
        (["export", "--format", "csv", "tab\there.h5"], "run file tab\\there.h5 does not exist"),
        (["characterize", "--profile", "my\nprofile.toml"], "profile file my\\nprofile.toml"),
    ],
)
def test_a_control_character_in_a_typed_name_is_shown_escaped(
    tmp_path, capsys, monkeypatch, args, shown
):
    """``show $'new\\nline.h5'`` said "run file new line.h5 does not exist", a file that
    is not the one typed: the line break, folded into the one error line, became a space."""
    monkeypatch.chdir(tmp_path)
    assert main(args) != 0
    err = capsys.readouterr().err
    assert shown in err
    assert err.count("\n") == 1  # still one line


def test_a_run_file_that_cannot_be_made_is_refused_before_the_die_is_opened(
    tmp_path, capsys, monkeypatch
):
    """``characterize --out 'a<newline>b/x.h5'`` with that folder a file opened the die (a
    bench: its instruments) and began the run, then said the folder was a file."""
    monkeypatch.chdir(tmp_path)
    Path("a\nb").write_text("a file")
    for command in (["characterize"], ["switching", "--arrays", "0"]):
        assert main([*command, "--profile", "passive-15x15", "--out", "a\nb/x.h5"]) == 4
        said = capsys.readouterr()
        assert "cannot create run file a\\nb/x.h5: a\\nb is a file, not a folder" in said.err
        assert said.err.count("\n") == 1  # nothing begun: no 'characterising ...' line
        assert not (tmp_path / "runs").exists()
