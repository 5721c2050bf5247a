"""Characterisation run files record when each array was measured (``array_time``, s), on
the chip's own clock where it has one, across a resume, and files without it still load."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.cli import main
from mtj_hil.protocols import CharacterizationPlan
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.jobs.timeline import chip_clock
from mtj_hil.runs.store import RunFile, load_characterization
from mtj_hil.sim import SimulatedChip

PLAN = CharacterizationPlan(arrays=(3, 0, 5, 1), cycles=1)
DIE = "sim:1t1r-20k:lot0:die2"
LEGACY = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1"


def _chip() -> SimulatedChip:
    return SimulatedChip.from_lot("1t1r-20k", 0, 2)


def test_each_array_has_its_start_and_end_on_the_die_clock_in_seconds(tmp_path):
    path = tmp_path / "run.h5"
    chip = _chip()
    seen = []
    run_characterization(
        chip,
        path,
        die_id=DIE,
        plan=PLAN,
        seed=0,
        progress=lambda done, total, array: seen.append(chip.clock),
    )
    char = load_characterization(path)
    assert char.arrays_done == [3, 0, 5, 1]
    t = char.array_time
    assert t.shape == (4, 2)
    assert t[0, 0] == 0.0
    assert np.all(t[:, 1] > t[:, 0])
    assert np.array_equal(t[1:, 0], t[:-1, 1])  # each array starts where the last ended
    # the ends are the die's simulated clock when each array was saved (plus the check
    # the progress callback made right after)
    assert t[:, 1] == pytest.approx(seen, abs=1e-12)
    assert char.clock_source == "SimulatedChip.clock"
    assert char.clock_sessions == [0]
    with RunFile.open(path) as run:
        assert run.unit("characterization/array_time") == "s"


def test_a_chip_without_a_clock_is_timed_by_wall_time():
    clock, source = chip_clock(object())
    a = clock()
    assert "wall" in source and clock() >= a
    chip = _chip()
    clock, source = chip_clock(chip)
    chip.die.clock = 12.5
    assert clock() == 12.5 and source == "SimulatedChip.clock"


def test_a_resumed_run_starts_a_new_session_of_times(tmp_path):
    path = tmp_path / "run.h5"

    class Interrupting(SimulatedChip):
        def program(self, array, *args, **kwargs):
            if array == 5:
                raise KeyboardInterrupt
            return super().program(array, *args, **kwargs)

    with pytest.raises(KeyboardInterrupt):
        run_characterization(Interrupting(_chip().die), path, die_id=DIE, plan=PLAN, seed=0)
    assert load_characterization(path).array_time.shape == (2, 2)
    run_characterization(_chip(), path, die_id=DIE, plan=PLAN, seed=0, resume=True)
    char = load_characterization(path)
    assert char.arrays_done == [3, 0, 5, 1]
    assert char.clock_sessions == [0, 2]
    assert char.array_time.shape == (4, 2)
    assert char.array_time[2, 0] == 0.0  # the new session's clock starts again
    # an export says which session each array's times count from (they restart at 0 s)
    from mtj_hil.labelled.load import load_dataset

    ds = load_dataset(path)
    session = dict(zip(ds.array.values.tolist(), ds.array_session.values.tolist(), strict=True))
    assert session == {3: 0, 0: 0, 5: 1, 1: 1}
    assert ds.array_session.attrs["units"] == "1"


def test_files_without_times_load_and_resume_without_them(tmp_path, monkeypatch):
    old = load_characterization(LEGACY / "characterization.h5")
    assert old.array_time is None and old.clock_source is None and old.clock_sessions == []
    # an interrupted 0.1 run finished today: its first array has no time, so none get one
    # (times that started later would misalign with the arrays)
    monkeypatch.setenv("COLUMNS", "200")
    path = tmp_path / "interrupted.h5"
    shutil.copy(LEGACY / "characterization-interrupted.h5", path)
    args = json.loads((LEGACY / "expected.json").read_text())["interrupted"]["resume_args"]
    assert main([*args, "--out", str(path)]) == 0
    char = load_characterization(path)
    assert char.complete and len(char.arrays_done) == 2
    assert char.array_time is None
