"""An unfinished run file given to training, fitting or export is refused with the same full
command that finishes it as ``mtj-hil show`` prints (die, profile and plan options included)."""

from __future__ import annotations

import re
import sys
from contextlib import contextmanager

import pytest

from mtj_hil.cli.main import main
from mtj_hil.errors import StoreError
from mtj_hil.profile_fit.runs import open_runs
from mtj_hil.runs.store import RunFile

COMMAND = "mtj-hil characterize --profile 1t1r-20k --lot-seed 3 --die 1 --arrays 0-1 --cycles 2"


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.fixture
def aborted(tmp_path, monkeypatch):
    """A characterisation interrupted (Ctrl-C) after its first array."""

    @contextmanager
    def progress(n_arrays):
        def callback(done, total, array):
            raise KeyboardInterrupt

        yield callback

    out = tmp_path / "char.h5"
    args = COMMAND.split()[1:] + ["--out", str(out), "--no-report"]
    # as the console script records its command line (in-process, sys.argv is pytest's)
    monkeypatch.setattr(sys, "argv", ["/usr/bin/mtj-hil", *args])
    with monkeypatch.context() as m:
        m.setattr("mtj_hil.cli.characterize.array_progress", progress)
        assert main(args) == 130
    with RunFile.open(out) as run:
        assert run.status == "aborted"
    return out


def _show_hint(path, capsys) -> str:
    assert main(["show", str(path)]) == 0
    text = _squash(capsys.readouterr().out)
    found = re.search(r"finish it with: (mtj-hil .*? --resume)", text)
    assert found, text
    return found.group(1)


def test_training_names_the_same_resume_command_as_show(aborted, tmp_path, capsys):
    hint = _show_hint(aborted, capsys)
    assert "--lot-seed 3" in hint and "--die 1" in hint and "--profile 1t1r-20k" in hint
    args = ["train", "--method", "defect-aware", "--die", "1", "--lot-seed", "3"]
    assert main([*args, "--characterization", str(aborted), "--out", str(tmp_path / "n.h5")]) == 4
    err = _squash(capsys.readouterr().err)
    assert f"finish it with: {hint}" in err
    assert "--resume --out FILE" not in err


def test_fitting_an_unfinished_run_names_the_same_resume_command(aborted, capsys):
    hint = _show_hint(aborted, capsys)
    with pytest.raises(StoreError) as caught:
        open_runs([aborted])
    assert f"finish it with: {hint}" in _squash(str(caught.value))


def test_export_of_an_unfinished_run_names_the_same_resume_command(aborted, capsys):
    hint = _show_hint(aborted, capsys)
    assert main(["export", str(aborted), "--format", "netcdf"]) == 4
    assert f"finish it with: {hint}" in _squash(capsys.readouterr().err)


def test_the_hint_names_the_file_where_it_is_now_not_where_it_was_written(tmp_path, capsys):
    """The recorded command line says ``--out interrupted.h5``; the file was copied since:
    the hint finishes the copy (following it once resumed a file of the old name)."""
    from pathlib import Path

    fixture = Path(__file__).parents[2] / "fixtures" / "legacy-0.1"
    copy = tmp_path / "copied run.h5"
    copy.write_bytes((fixture / "characterization-interrupted.h5").read_bytes())
    assert main(["show", str(copy)]) == 0
    text = _squash(capsys.readouterr().out)
    assert f"--out '{copy}' --resume" in text
    assert "--out interrupted.h5" not in text
