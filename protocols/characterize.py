"""Characterise a whole die: switching data of every array, then a die-wide defect map.

Results go to a :class:`CharacterizationSink` array by array as they are measured, so an
interrupted run loses at most the array in progress and resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from protocols.chip import Chip, Pulse, check_array
from protocols.defects import DefectMap, SwitchingData, Thresholds, defect_map, measure_switching
from protocols.errors import InvalidRequest
from protocols.read import DEFAULT_READ_VOLTAGE, CurrentCorrection


@dataclass(frozen=True)
class CharacterizationPlan:
    """What to measure: arrays, write-read cycles, reads per state, read voltage (V), pulse."""

    arrays: tuple[int, ...]
    cycles: int = 3
    reads: int = 1
    read_voltage: float = DEFAULT_READ_VOLTAGE
    pulse: Pulse | None = None


class CharacterizationSink(Protocol):
    """Where a characterisation keeps its results (a run file, or memory)."""

    def completed_arrays(self) -> list[int]:
        """Arrays whose switching data is already stored."""
        ...

    def save_array(self, array: int, data: SwitchingData) -> None:
        """Store (and make durable) the switching data of one finished array."""
        ...

    def load_arrays(self, arrays: Iterable[int]) -> dict[int, SwitchingData]:
        """Stored switching data of the given arrays."""
        ...

    def save_defect_map(self, arrays: list[int], result: DefectMap) -> None:
        """Store the die-wide classification (arrays stacked in the given order)."""
        ...


class MemorySink:
    """A sink that keeps everything in memory (tests, library use without a run file)."""

    def __init__(self) -> None:
        self.arrays: dict[int, SwitchingData] = {}
        self.result: tuple[list[int], DefectMap] | None = None

    def completed_arrays(self) -> list[int]:
        return sorted(self.arrays)

    def save_array(self, array: int, data: SwitchingData) -> None:
        self.arrays[array] = data

    def load_arrays(self, arrays: Iterable[int]) -> dict[int, SwitchingData]:
        return {a: self.arrays[a] for a in arrays}

    def save_defect_map(self, arrays: list[int], result: DefectMap) -> None:
        self.result = (arrays, result)


ProgressCallback = Callable[[int, int, int], None]
"""Called as ``progress(done, total, array)`` after each array."""


def characterize_die(
    chip: Chip,
    sink: CharacterizationSink,
    plan: CharacterizationPlan | None = None,
    *,
    thresholds: Thresholds | None = None,
    correction: CurrentCorrection | None = None,
    progress: ProgressCallback | None = None,
) -> DefectMap:
    """Measure every planned array not yet in ``sink``, then classify the whole die.

    Thresholds come from the die-wide distributions unless given. The returned map stacks
    the planned arrays in plan order: ``codes`` has shape ``(n_arrays_planned, rows, cols)``.

    Raises:
        InvalidRequest: a planned array is not on the die, or the plan is empty.
    """
    layout = chip.layout
    plan = plan or CharacterizationPlan(arrays=tuple(range(layout.n_arrays)))
    arrays = [check_array(layout, a) for a in plan.arrays]
    if not arrays:
        raise InvalidRequest("the characterisation plan names no arrays")
    if len(set(arrays)) != len(arrays):
        raise InvalidRequest("the characterisation plan names an array twice")
    done = set(sink.completed_arrays())
    finished = sum(a in done for a in arrays)
    for array in arrays:
        if array in done:
            continue
        data = measure_switching(
            chip,
            array,
            cycles=plan.cycles,
            reads=plan.reads,
            pulse=plan.pulse,
            read_voltage=plan.read_voltage,
            correction=correction,
        )
        sink.save_array(array, data)
        finished += 1
        if progress is not None:
            progress(finished, len(arrays), array)
    stored = sink.load_arrays(arrays)
    mean_p = np.stack([stored[a].mean_p for a in arrays], axis=1)
    mean_ap = np.stack([stored[a].mean_ap for a in arrays], axis=1)
    result = defect_map(mean_p, mean_ap, thresholds)
    sink.save_defect_map(arrays, result)
    return result
