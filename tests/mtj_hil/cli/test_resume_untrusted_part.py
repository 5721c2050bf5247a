"""``--resume`` of a run whose last journal part does not verify (cut short by a copy or a
bad disk): the resume sets the part aside and measures its array again, as the reading
warning promises (was: refused, exit 4, with no way to finish the run)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

from mtj_hil.cli import main
from mtj_hil.runs.store import load_characterization, verify_run
from mtj_hil.runs.store.journal import list_parts

KILLED_AFTER_ONE = textwrap.dedent(
    """
    import os, sys
    from mtj_hil.protocols import CharacterizationPlan
    from mtj_hil.runs.jobs.characterization import run_characterization
    from mtj_hil.sim import SimulatedChip

    def progress(done, total, array):
        if done == 1:
            os._exit(9)

    run_characterization(
        SimulatedChip.from_lot("passive-15x15", 0, 3), sys.argv[1],
        die_id="sim:passive-15x15:lot0:die3",
        plan=CharacterizationPlan(arrays=(0, 1), cycles=2), seed=0, progress=progress,
    )
    """
)


def test_resume_sets_an_untrusted_part_aside_and_finishes_the_run(tmp_path: Path, capsys) -> None:
    path = tmp_path / "killed run.h5"
    proc = subprocess.run([sys.executable, "-c", KILLED_AFTER_ONE, str(path)], check=False)
    assert proc.returncode == 9
    last = next(p for _, p in list_parts(path) if b"characterization/array_index" in p.read_bytes())
    last.write_bytes(last.read_bytes()[:-100])  # cut short
    assert main(["show", "--verify", str(path)]) == 4  # --verify names it meanwhile
    assert "journal part not trusted" in capsys.readouterr().err
    args = ["characterize", "--profile", "passive-15x15", "--die", "3", "--no-report"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        code = main([*args, "--out", str(path), "--resume"])
    assert code == 0, capsys.readouterr()
    assert last.with_name(last.name + ".untrusted").exists()
    assert load_characterization(path).arrays_done == [0, 1]
    assert verify_run(path) == []
    assert main(["show", "--verify", str(path)]) == 0
