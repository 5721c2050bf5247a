"""The crash harness's characterisation that ends in targeted re-measurement, in rounds.

A small noisy die (TMR 20 %, 5 % read noise: devices stay UNCERTAIN after 2 cycles, so
re-measurement runs two or three rounds) is characterised into a run file. Each array and
each stored round is a unit: ``done round-K`` once round K's record is on disk, ``measure
round-K`` when the die is written for round K. A killed run resumed must keep every round
reported done, bit for bit, and measure none of them again (rounds replayed:
:mod:`mtj_hil.protocols.characterize.replay`).

Rounds measured after a resume are drawn from a new session's streams, and the defect map
depends on them, so those are compared for presence and shape only; everything else
(arrays, the first round's devices, every round stored before the kill) must equal the
uninterrupted run's, or the rounds the killed run left.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import h5py
import numpy as np

from mtj_hil.protocols.characterize.replay import STREAMS
from mtj_hil.protocols.mosaic import mosaic
from mtj_hil.testing.crash_scenarios import (
    Report,
    Scenario,
    _finished,
    _kept_arrays,
    compare_h5,
    run_leftovers,
)

OUT = "remeasure.h5"
STASH = "rounds-before-resume.npz"
"""The rounds a killed run left, copied before the resume (the comparison checks them)."""
ROUND_CYCLES = 2
DIE = "sim:1t1r-20k-tmr20-noise5:lot9001:die0"


def _plan() -> Any:
    from mtj_hil.protocols.characterize.plan import CharacterizationPlan

    return CharacterizationPlan(
        arrays=(0, 1, 2), cycles=2, remeasure_cycles=ROUND_CYCLES, remeasure_rounds=3
    )


def _chip() -> Any:
    from mtj_hil.sim import SimulatedChip, load_profile

    prof = load_profile("1t1r-20k")
    prof = prof.replace(
        resistance={"r_ap_median": 1.2 * prof.resistance.r_p_median}, read={"noise_rel": 0.05}
    )
    return SimulatedChip.from_lot(prof, 9001, 0)


def stored_round_count(out: Path) -> int:
    """Complete rounds in the run file's re-measurement record (0: none)."""
    if not out.exists():
        return 0
    from mtj_hil.runs.store.characterization import CharacterizationRun
    from mtj_hil.runs.store.runfile import RunFile

    with RunFile.open(out) as run:
        got = CharacterizationRun(run).load_remeasurement()
    return 0 if got is None else got[2][0].g_after_p.shape[0] // ROUND_CYCLES


def _stash(out: Path, stash: Path) -> None:
    """Copy the killed run's stored rounds aside (once: the first resume's view)."""
    if stash.exists() or not stored_round_count(out):
        return
    from mtj_hil.runs.store.characterization import CharacterizationRun
    from mtj_hil.runs.store.runfile import RunFile

    with RunFile.open(out) as run:
        arrays, selected, data = CharacterizationRun(run).load_remeasurement()
    streams = {
        n: np.stack([getattr(d, n) for d in data])
        for n in STREAMS
        if getattr(data[0], n) is not None
    }
    np.savez(stash, arrays=np.asarray(arrays), selected=selected, **streams)


def _watch_rounds(report: Report) -> None:
    """In a child: report each round measured and each round stored; the die's writes of a
    round are not reported as a new measurement of its array (arrays are units of their
    own)."""
    from mtj_hil.protocols.characterize import remeasure
    from mtj_hil.runs.store.characterization import CharacterizationRun
    from mtj_hil.sim.chip import SimulatedChip

    counter = [0]
    stored_rounds, measure_round = remeasure.stored_rounds, remeasure._measure_round
    save = CharacterizationRun.save_remeasurement

    def stored(*args: Any, **kwargs: Any) -> Any:
        rounds = stored_rounds(*args, **kwargs)
        counter[0] = len(rounds)
        return rounds

    def measure(*args: Any, **kwargs: Any) -> Any:
        counter[0] += 1
        report(f"measure round-{counter[0]}")
        watched = SimulatedChip.program
        SimulatedChip.program = getattr(watched, "__wrapped__", watched)  # type: ignore[method-assign]
        try:
            return measure_round(*args, **kwargs)
        finally:
            SimulatedChip.program = watched  # type: ignore[method-assign]

    def saved(self: Any, arrays: Any, selected: Any, data: Any) -> None:
        save(self, arrays, selected, data)
        report(f"done round-{data[0].g_after_p.shape[0] // ROUND_CYCLES}")

    remeasure.stored_rounds = stored
    remeasure._measure_round = measure
    CharacterizationRun.save_remeasurement = saved  # type: ignore[method-assign]


def remeasure_scenario() -> Scenario:
    """The scenario (see the module's docstring)."""

    def run(folder: Path, report: Report) -> None:
        from mtj_hil.runs.jobs.characterization import run_characterization

        out = folder / OUT
        if _finished(out):
            return
        _stash(out, folder / STASH)
        _watch_rounds(report)
        run_characterization(
            _chip(),
            out,
            die_id=DIE,
            plan=_plan(),
            resume=out.exists(),
            seed=0,
            progress=lambda done, total, array: report(f"done {array}"),
        )

    def kept(folder: Path) -> set[str]:
        from mtj_hil.runs.store.characterization import CharacterizationRun

        out = folder / OUT
        arrays = _kept_arrays(out, CharacterizationRun)
        return arrays | {f"round-{k}" for k in range(1, stored_round_count(out) + 1)}

    return Scenario(
        "characterisation with re-measurement", _none, run, kept, compare, run_leftovers
    )


def _none(folder: Path) -> None:
    return None


def compare(folder: Path, ref: Path) -> list[str]:
    """Differences of the kept file from the uninterrupted run's (see the module)."""
    path, reference = folder / OUT, ref / OUT
    # the defect map depends on the rounds measured after the resume; so do its NeXus views
    skipped = ("remeasure", "defects", "entry/classification", "entry/die_map")
    out = compare_h5(path, reference, skip=skipped)
    if out:
        return out
    with h5py.File(path, "r") as a, h5py.File(reference, "r") as b:
        for name in ("remeasure/arrays", "remeasure/selected"):
            if a[name][()].tobytes() != b[name][()].tobytes():
                out.append(f"{OUT}:{name}: data differ")
        shapes = {a[f"remeasure/{n}"].shape for n in STREAMS if f"remeasure/{n}" in a}
        if len(shapes) != 1 or "remeasure/g_after_p" not in a or "defects/codes" not in a:
            out.append(f"{OUT}: the re-measurement record or the defect map is incomplete")
            return out
        codes = a["defects/codes"][()].astype(float)
        tiled = mosaic(codes, max(1, int(np.ceil(np.sqrt(codes.shape[0])))))
        if "entry/die_map/codes" not in a or a["entry/die_map/codes"][()].tobytes() != (
            tiled.tobytes()
        ):
            out.append(f"{OUT}:entry/die_map: not the file's own defect map")
        before = folder / STASH
        if before.exists():  # every round the killed run had stored: kept bit for bit
            with np.load(before) as stash:
                for n in (n for n in STREAMS if n in stash.files):
                    kept = stash[n]
                    now = a[f"remeasure/{n}"][:, : kept.shape[1]]
                    same_as_ref = b[f"remeasure/{n}"][:, : kept.shape[1]]
                    if now.tobytes() != kept.tobytes() or kept.tobytes() != same_as_ref.tobytes():
                        out.append(f"{OUT}:remeasure/{n}: a round stored before the kill changed")
    return out
