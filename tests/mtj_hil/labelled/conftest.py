"""Small run files of every kind, made once per session through the Python API."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

import mtj_hil

LEGACY = Path(__file__).resolve().parents[2] / "fixtures" / "legacy-0.1"


@pytest.fixture(scope="session")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """Finished runs: a characterisation of 4 arrays measured out of order (one cycle on an
    early-process die: bias reads and a re-measurement of uncertain devices), a switching
    run of 1 array (two R-V loops), and the 0.1 fixtures (one of them interrupted)."""
    folder = tmp_path_factory.mktemp("runs")
    early = mtj_hil.simulated_die(1, profile="1t1r-early-process")
    char = mtj_hil.characterize(early, folder / "char.h5", arrays=[3, 0, 1, 2], cycles=1)
    sw = mtj_hil.measure_switching(
        mtj_hil.simulated_die(3),
        folder / "sw.h5",
        arrays=[1],
        widths=[1e-7],
        amplitudes=[0.5, 0.7, 0.9, 1.1],
        trials=8,
        disturb_reads=50,
        loop_devices=[(1, 0, 0), (1, 3, 4)],
    )
    out = {"characterization": char.path, "switching": sw.path}
    for name in ("characterization", "switching", "characterization-interrupted"):
        copy = folder / f"legacy-{name}.h5"
        shutil.copyfile(LEGACY / f"{name}.h5", copy)
        out[f"legacy-{name}"] = copy
    return out


@pytest.fixture(scope="session")
def small_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished one-array characterisation of an early-process die (bias reads and a
    re-measurement, as ``runs["characterization"]``): an export of it writes the same tables
    at the same write points, at a quarter of the size; for the tests that repeat an export
    once per write point."""
    folder = tmp_path_factory.mktemp("small-run")
    die = mtj_hil.simulated_die(1, profile="1t1r-early-process")
    return mtj_hil.characterize(die, folder / "one-array.h5", arrays=[2], cycles=1).path
