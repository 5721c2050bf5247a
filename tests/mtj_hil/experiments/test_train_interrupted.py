"""``mtj-hil train`` stopped while it saves its network (SIGTERM at a write of its run file).

Training is not resumed (it saves its network at its end): the unfinished file must say so
everywhere a user meets it, with what to do (delete it and train again), never point to
another command's ``--resume``; a file that was completed before the signal stays usable.
"""

from __future__ import annotations

import shutil
import warnings

import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store import RunFile
from mtj_hil.testing.write_faults import write_faults

TRAIN = ["train", "--method", "unaware", "--die", "0", "--dataset", "digits", "--hidden", "8",
         "--epochs", "1"]  # fmt: skip
PHASES = {
    "making the file": lambda p: p.startswith("link") and "/.net.h5.tmp-" in p,
    "committing the network": lambda p: p.startswith("link") and ".parts/." in p,
    "writing the file whole": lambda p: p.startswith("replace") and "/.net.h5.tmp-" in p,
}


@pytest.fixture(scope="module")
def points(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ref")
    with write_faults(folder) as faults:
        assert main([*TRAIN, "--out", str(folder / "net.h5")]) == 0
    return faults.points


def _squash(text: str) -> str:
    return " ".join(text.split())


@pytest.mark.parametrize("phase", list(PHASES))
def test_a_training_stopped_while_saving_says_what_to_do(phase, points, tmp_path, capsys):
    k = next(i for i, p in enumerate(points, 1) if PHASES[phase](p))
    out = tmp_path / "net.h5"
    with write_faults(tmp_path, k, "SIGTERM"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*TRAIN, "--out", str(out)]) == 143
    err = _squash(capsys.readouterr().err)
    assert "Traceback" not in err and "stopped by SIGTERM" in err
    with RunFile.open(out) as run:
        status = run.status
    assert main(["show", str(out)]) == 0
    shown = _squash(capsys.readouterr().out + capsys.readouterr().err)
    assert "switching" not in shown and "characterize" not in shown  # not another command
    if status == "completed":  # the signal waited for the whole file: it is usable
        assert main(["evaluate", "--net", str(out), "--die", "0"]) == 0
        return
    assert "it cannot be resumed" in shown and f"delete {out}" in shown
    assert "evaluate it with" not in shown  # evaluate refuses an unfinished network
    left = [p for p in (out.with_name("net.h5.parts"),) if p.exists()]
    # the advice names what the writer left beside it (a new file would set it aside)
    assert all(str(p) in shown for p in left) and "and train again" in shown, shown
    assert main([*TRAIN, "--out", str(out)]) == 4  # not overwritten, but said why
    err = _squash(capsys.readouterr().err)
    assert f"{out} is an unfinished training run" in err and f"delete {out}" in err
    assert main(["evaluate", "--net", str(out), "--die", "0"]) == 4
    assert f"delete {out}" in _squash(capsys.readouterr().err)
    for path in (out, *left):  # as the advice says: then training again leaves no debris
        shutil.rmtree(path) if path.is_dir() else path.unlink()
    assert main([*TRAIN, "--out", str(out)]) == 0
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("net")) == ["net.h5"]


@pytest.mark.parametrize("phase", ["making the file", "committing the network"])
def test_a_full_disk_while_saving_a_training_says_train_again_not_resume(
    phase, points, tmp_path, capsys
):
    k = next(i for i, p in enumerate(points, 1) if PHASES[phase](p))
    out = tmp_path / "net.h5"
    with write_faults(tmp_path, k, "ENOSPC"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        assert main([*TRAIN, "--out", str(out)]) == 4
    err = _squash(capsys.readouterr().err)
    assert "No space left on device" in err and str(out) in err and "Traceback" not in err
    assert "then resume" not in err
    if out.exists():  # the unfinished file must go before training again
        assert f"delete {out}" in err and "and train again" in err
    else:  # the first write failed: there is nothing to delete
        assert "no file was made" in err and "run the command again" in err
