"""Shared fixtures: a small characterised die and a characterisation run file."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.protocols.characterize.plan import CharacterizationPlan
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.sim import SimulatedChip


@pytest.fixture(scope="session")
def char_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A completed characterisation of die 2 of lot 0 (1t1r-20k), all arrays."""
    out = tmp_path_factory.mktemp("char") / "die2.h5"
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 2)
    plan = CharacterizationPlan(arrays=tuple(range(chip.layout.n_arrays)))
    run_characterization(chip, out, die_id="sim:1t1r-20k:lot0:die2", plan=plan, seed=0)
    return out
