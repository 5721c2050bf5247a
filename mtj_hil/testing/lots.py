"""Characterisation run files of a simulated lot, as fit-profile's tests and bench use them."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from mtj_hil.protocols import CharacterizationPlan
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.sim import SimulatedChip
from mtj_hil.sim.profile import DeviceProfile


def lot_runs(
    folder: Path,
    profile: DeviceProfile,
    lot: int,
    dies: int,
    arrays: int | None,
    tag: str,
    **plan: Any,
) -> tuple[list[Path], list[Any]]:
    """Characterise dies ``0 .. dies - 1`` of lot ``lot`` (their first ``arrays`` arrays, all
    if None; ``plan``: further :class:`CharacterizationPlan` settings) into
    ``folder/<tag>-<k>.h5``; returns the run files and the simulated dies (their truth)."""
    paths, drawn = [], []
    for k in range(dies):
        chip = SimulatedChip.from_lot(profile, lot, k)
        n = min(arrays or chip.layout.n_arrays, chip.layout.n_arrays)
        p = CharacterizationPlan(arrays=tuple(range(n)), **plan).resolved(chip.layout)
        path = Path(folder) / f"{tag}-{k}.h5"
        run_characterization(chip, path, die_id=f"sim:{tag}:{k}", plan=p, seed=lot)
        paths.append(path)
        drawn.append(chip.die)
    return paths, drawn
