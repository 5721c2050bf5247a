"""Random dies for the defect detector: any mix of the optional flaw sections, drawn inside
the ranges the profile schema allows (:data:`mtj_hil.sim.profile_sections.OPTIONAL_FLAWS`).

A user may write any value a section accepts, so the detector must answer every such die
with a classification or a named refusal (:class:`ProtocolError`), never a crash; and a
profile the schema refuses must be refused with a :class:`ConfigError`. :func:`fuzz_flaws`
draws the dies and reports, per die, what happened and how the confident calls fared.
"""

from __future__ import annotations

import dataclasses
import math
import traceback
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtj_hil.errors import ConfigError
from mtj_hil.protocols.characterize.plan import CharacterizationPlan
from mtj_hil.protocols.characterize.procedure import MemorySink, characterize_die
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.protocols.errors import ProtocolError
from mtj_hil.sim.chip import SimulatedChip
from mtj_hil.sim.profile import load_profile
from mtj_hil.sim.profile_sections import OPTIONAL_FLAWS

DEFECTS = (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP)


@dataclass(frozen=True)
class FuzzOutcome:
    """What one random die gave.

    Attributes:
        seed: the die's seed (the same seed draws the same sections and die).
        changes: the flaw sections drawn (section -> key -> value).
        verdict: "classified", "refused" (ProtocolError), "profile refused" (ConfigError)
            or "crash" (anything else: a bug).
        message: the refusal or the crash's traceback ("" when classified).
        good_to_defect: share of the truly GOOD devices called a defect.
        confident_wrong: share of the defect calls with confidence >= 0.95 that were wrong.
        uncertain: share of the devices left UNCERTAIN.
    """

    seed: int
    changes: dict[str, dict[str, Any]]
    verdict: str
    message: str = ""
    good_to_defect: float = 0.0
    confident_wrong: float = 0.0
    uncertain: float = 0.0


def _draw(rng: np.random.Generator, low: Any, high: Any, kind: str) -> Any:
    """One value inside ``low..high``: log-uniform over wide positive ranges, often an end."""
    if isinstance(low, str):
        return str(rng.choice([low, high]))
    lo = -1e3 if low == -math.inf else float(low)
    hi = 1e3 if high == math.inf else float(high)
    if kind == "int":
        return int(rng.integers(int(lo), int(min(hi, 64)) + 1))
    if lo > 0 and hi / lo > 100:
        value = float(np.exp(rng.uniform(np.log(lo), np.log(hi))))
    else:
        value = float(rng.uniform(lo, hi))
    return float(rng.choice([lo, hi])) if rng.random() < 0.15 else value


def random_flaws(rng: np.random.Generator, max_sections: int = 3) -> dict[str, dict[str, Any]]:
    """1..``max_sections`` flaw sections, each with a random subset of its scalar keys."""
    names = list(OPTIONAL_FLAWS)
    k = int(rng.integers(1, max_sections + 1))
    out: dict[str, dict[str, Any]] = {}
    for name in rng.choice(names, size=min(k, len(names)), replace=False):
        cls = OPTIONAL_FLAWS[str(name)]
        section = {}
        for f in dataclasses.fields(cls):
            kind = f.type if isinstance(f.type, str) else f.type.__name__
            if f.name not in cls.RANGES or kind.startswith("tuple") or rng.random() < 0.4:
                continue
            low, high, _ = cls.RANGES[f.name]
            section[f.name] = _draw(rng, low, high, kind)
        if section:
            out[str(name)] = section
    return out


def fuzz_flaws(
    seeds: range, base: str = "1t1r-20k", arrays: int = 4, lot: int = 5
) -> Iterator[FuzzOutcome]:
    """Characterise one random die per seed (its first ``arrays`` arrays, in memory)."""
    for seed in seeds:
        rng = np.random.default_rng(seed)
        changes = random_flaws(rng)
        grid = changes.get("spatial", {})
        n_arrays = load_profile(base).geometry.n_arrays
        if grid.get("grid_cols", 0) > n_arrays:  # a grid as wide as the die, as it was drawn
            grid["grid_cols"] = n_arrays
        try:
            profile = load_profile(base).replace(**changes)
        except ConfigError as exc:
            yield FuzzOutcome(seed, changes, "profile refused", str(exc))
            continue
        try:
            chip = SimulatedChip.from_lot(profile, lot, seed)
            n = min(arrays, chip.layout.n_arrays)
            plan = CharacterizationPlan(arrays=tuple(range(n))).resolved(chip.layout)
            result = characterize_die(chip, MemorySink(), plan)
        except ProtocolError as exc:
            yield FuzzOutcome(seed, changes, "refused", str(exc))
            continue
        except Exception:  # noqa: BLE001 - any other exception is the bug being looked for
            yield FuzzOutcome(seed, changes, "crash", traceback.format_exc(limit=6))
            continue
        truth = chip.die.defect[list(plan.arrays)]
        good = truth == DefectCode.GOOD
        called = np.isin(result.codes, DEFECTS)
        sure = called & (result.confidence >= 0.95)
        yield FuzzOutcome(
            seed,
            changes,
            "classified",
            good_to_defect=float((good & called).sum() / max(int(good.sum()), 1)),
            confident_wrong=float((sure & (result.codes != truth)).sum() / max(int(sure.sum()), 1)),
            uncertain=float((result.codes == DefectCode.UNCERTAIN).mean()),
        )
