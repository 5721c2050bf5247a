"""A command stopped at a write of its run file, then finished as the user is told to.

For ``characterize`` and ``switching`` (two small arrays), the command is run through the
command line's entry point and stopped at a spread of its file-system write points
(:mod:`mtj_hil.testing.write_faults`): by SIGTERM and by Ctrl-C (SIGINT), or by a full disk
(ENOSPC at that write and every later one). The write points are the first of each kind of
write a run makes (:data:`PHASES`: its lease, the file made, a journal part, the file written
whole, the journal removed, the lease given back). Each time:

- the exit status is the documented one (143, 130; 4 for the full disk) with one line on
  stderr and no traceback; a full disk is named, with the file;
- ``mtj-hil show`` reads the file it left (if it made one);
- the line never tells the user to resume a run that is complete;
- finishing it (``--resume``, or running again when no file was made) ends with a file
  equal to an uninterrupted run's (bit-identical data and attributes, times and ids aside),
  and no array the interrupted run had stored is measured again.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.runs.store import RunFile
from mtj_hil.sim.chip import SimulatedChip
from mtj_hil.testing.crash_scenarios import compare_h5
from mtj_hil.testing.write_faults import write_faults

COMMANDS = {
    "characterize": [
        "characterize", "--profile", "passive-15x15", "--arrays", "0-1", "--cycles", "1",
        "--remeasure-cycles", "0", "--no-report",
    ],
    "switching": [
        "switching", "--profile", "passive-15x15", "--arrays", "0-1", "--amplitudes", "0.5,0.9",
        "--widths", "1e-6", "--trials", "2", "--probe-trials", "1", "--floor-trials", "2",
        "--disturb-reads", "2", "--no-report",
    ],
}  # fmt: skip
CODES = {"SIGTERM": 143, "SIGINT": 130}
PHASES = {
    "taking the lease": lambda p: p.startswith("link") and ".writer.tmp-" in p,
    "making the file": lambda p: p.startswith("link") and "/.run.h5.tmp-" in p,
    "first array's part": lambda p: p.startswith("link") and ".parts/." in p,
    "writing the last part": lambda p: p.startswith("write") and p.endswith("last part"),
    "writing the file whole": lambda p: p.startswith("replace") and "/.run.h5.tmp-" in p,
    "flushing its folder": lambda p: p.endswith("after the file"),
    "removing the journal": lambda p: p.startswith("unlink") and ".parts/0" in p,
    "giving the lease back": lambda p: p.startswith("unlink") and p.endswith("run.h5.writer"),
}
"""The write points tried: the first of each kind (``writing the last part``: the first
write into the journal's last part; ``flushing its folder``: the folder's fsync after the
file was written whole), found in the uninterrupted run's list."""
CASES = [
    *(("characterize", a, p) for a in ("SIGTERM", "ENOSPC") for p in PHASES),
    *(("characterize", "SIGINT", p) for p in ("first array's part", "writing the file whole")),
    *(("switching", "SIGTERM", p) for p in ("first array's part", "giving the lease back")),
    *(("switching", "ENOSPC", p) for p in ("writing the last part", "removing the journal")),
]
"""Every phase for a characterisation; the switching run shares the run-file code, so a few."""


def write_point(points: list[str], phase: str) -> int:
    """The 1-based write point of ``phase`` in the list ``points`` of a run's writes."""
    marked = list(points)
    last_part = max(i for i, p in enumerate(points) if p.startswith("open") and ".parts/." in p)
    marked[last_part + 1] += " last part"
    whole = max(i for i, p in enumerate(points) if p.startswith("replace"))
    marked[whole + 1] += " after the file"  # the folder's fsync that makes the rename durable
    return next(i for i, p in enumerate(marked, 1) if PHASES[phase](p))


def _run(folder: Path, args: list[str], capsys, k: int = 0, action: str = "count"):
    with write_faults(folder, k, action) as faults, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main(args)
    captured = capsys.readouterr()
    return code, faults, captured.err


@pytest.fixture(scope="module")
def references(tmp_path_factory):
    """Each command run once uninterrupted: its run file and its list of write points."""
    out = {}
    for name, args in COMMANDS.items():
        folder = tmp_path_factory.mktemp(f"ref-{name}")
        with write_faults(folder) as faults:
            assert main([*args, "--out", str(folder / "run.h5")]) == 0
        out[name] = (folder / "run.h5", faults.points)
    return out


@pytest.fixture
def measured(monkeypatch):
    """The arrays the simulated die is asked to write to (each once)."""
    seen: list[int] = []
    original = SimulatedChip.program

    def program(self, array, *args, **kwargs):
        if array not in seen:
            seen.append(int(array))
        return original(self, array, *args, **kwargs)

    monkeypatch.setattr(SimulatedChip, "program", program)
    return seen


def _stored_arrays(path: Path, kind: str) -> set[int]:
    if not path.exists():
        return set()
    with warnings.catch_warnings(), RunFile.open(path) as run:
        warnings.simplefilter("ignore")
        group = "characterization" if kind == "characterize" else "switching"
        index = f"{group}/array_index"
        return {int(a) for a in run.read(index)} if index in run.h5 else set()


@pytest.mark.parametrize(("command", "action", "phase"), CASES)
def test_stopped_at_a_write_then_finished_equals_an_uninterrupted_run(
    command, action, phase, references, tmp_path, capsys, measured, python_sigint
):
    reference, points = references[command]
    k, n = write_point(points, phase), len(points)
    out = tmp_path / "run.h5"
    args = [*COMMANDS[command], "--out", str(out)]
    code, faults, err = _run(tmp_path, args, capsys, k, action)
    assert faults.fired, f"write point {k} of {n} was not reached"
    where = faults.points[k - 1]
    # the message (the last thing printed; the console may wrap it), squashed to one line
    last = " ".join(err.split()).rpartition("0:00:00")[2]
    assert "Traceback" not in err, where
    status = None
    if out.exists():
        assert main(["show", str(out)]) == 0, where
        capsys.readouterr()
        with RunFile.open(out) as run:
            status = run.status
    if action == "ENOSPC" and code == 0:  # only the lease's best-effort removal failed
        assert status == "completed", where
    elif action == "ENOSPC":
        assert code == 4, f"{where}: exit {code}: {err[-400:]}"
        assert "No space left on device" in last and str(tmp_path) in last, (where, last)
        if not out.exists():  # nothing to resume (the first fold says to run it again)
            assert "resume" not in last, (where, last)
            assert "no file was made" in last or "writer lease" in last, (where, last)
        elif status != "completed":  # the command that finishes it, ready to paste
            assert f"--out {out} --resume" in last, (where, last)
    else:
        assert code == CODES[action], f"{where}: exit {code}: {err[-400:]}"
        assert ("stopped by SIGTERM" if action == "SIGTERM" else "interrupted") in last, last
        assert " is running" not in last, last  # nobody runs it any more: it is interrupted
    # a new process removes what this one left half-written (its pid is gone); the test
    # resumes in the same process, so it does that itself
    for tmp in [*tmp_path.glob(".*.tmp-*"), *tmp_path.glob("run.h5.parts/.*.tmp-*")]:
        tmp.unlink()
    if status == "completed":  # the fault came after the end: nothing to finish
        assert "--resume" not in last and "then resume" not in last, (where, last)
        assert main([*args, "--resume"]) == 4  # refused as completed, file left as it is
    else:
        kept = _stored_arrays(out, command)
        measured.clear()
        again = [*args, "--resume"] if out.exists() else args
        code, _, err = _run(tmp_path, again, capsys)
        assert code == 0, f"{where}: finishing it ended with {code}: {err[-400:]}"
        assert not kept & set(measured), f"{where}: arrays {kept} stored, measured again"
    assert compare_h5(out, reference) == [], where
    leftovers = [p.name for p in tmp_path.iterdir() if p.name.endswith((".parts", ".writer"))]
    if status != "completed":
        assert leftovers == [], (where, leftovers)


@pytest.mark.parametrize(
    ("command", "action"),
    [("characterize", "SIGTERM"), ("switching", "ENOSPC")],
)
def test_a_report_cut_short_after_the_run_ended_is_drawn_by_resume(
    command, action, tmp_path, capsys, measured
):
    out = tmp_path / "run.h5"
    args = [a for a in COMMANDS[command] if a != "--no-report"] + ["--out", str(out)]
    with write_faults(tmp_path) as faults:  # the writes of the run alone: the report's follow
        assert main([*args, "--no-report"]) == 0
    out.unlink()
    n_run = faults.seen
    with write_faults(tmp_path, n_run + 1, action) as faults:
        code = main(args)
    first = faults.points[n_run]  # the report, drawn under a temporary name
    assert first.startswith("open") and "/.run.png.tmp-" in first and first.endswith(".png")
    err = " ".join(capsys.readouterr().err.split())
    assert code == (143 if action == "SIGTERM" else 4) and "Traceback" not in err
    assert not out.with_suffix(".png").exists()  # no half-drawn image left as if whole
    assert not list(tmp_path.glob(".run.png.tmp-*"))  # nor its temporary
    assert f"draw its missing report with: mtj-hil {command}" in err and "--resume" in err
    measured.clear()
    assert main([*args, "--resume"]) == 0
    assert out.with_suffix(".png").exists() and measured == []  # drawn, nothing measured
    assert "drawing its missing report" in " ".join(capsys.readouterr().err.split())
    assert main([*args, "--resume"]) == 4  # now complete with its report: refused as ever
