"""Characterise a whole die: switching data of every array, then a die-wide defect map.

Results go to a :class:`CharacterizationSink` array by array as they are measured, so an
interrupted run loses at most the array in progress and resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np

from mtj_hil.protocols.characterize.plan import CharacterizationPlan, check_plan
from mtj_hil.protocols.characterize.remeasure import STREAMS, remeasure
from mtj_hil.protocols.chip import Chip
from mtj_hil.protocols.defects.detect import (
    DefectMap,
    SwitchingData,
    Thresholds,
    classify_reads,
    defect_map,
    measure_switching,
)
from mtj_hil.protocols.defects.whole_lines import whole_line_warnings
from mtj_hil.protocols.sinks import MemoryArrays, ProgressCallback, measure_missing


class CharacterizationSink(Protocol):
    """Where a characterisation keeps its results (a run file, or memory).

    A sink may also offer ``load_remeasurement()``, giving back what ``save_remeasurement``
    stored; a resumed run then replays those rounds instead of measuring them again
    (:mod:`~mtj_hil.protocols.characterize.replay`)."""

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

    def save_remeasurement(
        self, arrays: list[int], selected: np.ndarray, data: list[SwitchingData]
    ) -> None:
        """Store the targeted re-measurement: per array, the cells re-written and the data."""
        ...


class MemorySink(MemoryArrays[SwitchingData]):
    """A sink that keeps everything in memory (tests, library use without a run file)."""

    def __init__(self) -> None:
        super().__init__()
        self.result: tuple[list[int], DefectMap] | None = None
        self.remeasured: tuple[list[int], np.ndarray, list[SwitchingData]] | None = None

    def save_defect_map(self, arrays: list[int], result: DefectMap) -> None:
        self.result = (arrays, result)

    def save_remeasurement(
        self, arrays: list[int], selected: np.ndarray, data: list[SwitchingData]
    ) -> None:
        self.remeasured = (arrays, selected, data)

    def load_remeasurement(self) -> tuple[list[int], np.ndarray, list[SwitchingData]] | None:
        """What ``save_remeasurement`` last got (a second run on this sink replays it)."""
        return self.remeasured


def characterize_die(
    chip: Chip,
    sink: CharacterizationSink,
    plan: CharacterizationPlan | None = None,
    *,
    thresholds: Thresholds | None = None,
    progress: ProgressCallback | None = None,
) -> DefectMap:
    """Measure every planned array not yet in ``sink``, then classify the whole die.

    Each device is classified on its own evidence with distributions fitted to this die
    (:func:`mtj_hil.protocols.defects.detect.classify_reads`); given ``thresholds`` (a calibration) select
    the fixed-threshold classifier instead. With ``plan.remeasure_cycles``, devices left
    UNCERTAIN get that many extra verified write-read cycles (only they are written; at most
    ``plan.remeasure_budget`` of the devices, the least settled first; doubtful defect calls
    too where the budget leaves room), the die is classified again, and those still unsettled
    get further rounds, up to ``plan.remeasure_rounds``
    (:mod:`mtj_hil.protocols.characterize.remeasure`); the extra data goes to the sink. The returned map stacks the planned arrays in plan order: ``codes`` has
    shape ``(n_arrays_planned, rows, cols)``.

    Without ``plan`` the defaults of :class:`CharacterizationPlan` apply, the very ones of
    ``mtj-hil characterize``: every array, 3 cycles, UNCERTAIN devices re-measured, and a
    second read at the die's largest read voltage for the bias signature where it allows one.

    Raises:
        InvalidRequest: the plan does not fit the die (see :func:`check_plan`); nothing is
            applied then.
        ProtocolError: no device switched (the message says what was seen).
    """
    layout = chip.layout
    plan = (plan or CharacterizationPlan()).resolved(layout)
    check_plan(layout, plan)
    arrays = [int(a) for a in plan.arrays]

    def measure(array: int) -> SwitchingData:
        return measure_switching(
            chip,
            array,
            cycles=plan.cycles,
            reads=plan.reads,
            pulse=plan.pulse,
            read_voltage=plan.read_voltage,
            bias_read_voltage=plan.bias_read_voltage,
        )

    measure_missing(arrays, sink, measure, progress, "characterisation")
    stored = sink.load_arrays(arrays)
    if thresholds is not None:
        mean_p = np.stack([stored[a].mean_p for a in arrays], axis=1)
        mean_ap = np.stack([stored[a].mean_ap for a in arrays], axis=1)
        result = defect_map(mean_p, mean_ap, thresholds)
    else:
        g_p = np.stack([stored[a].g_after_p for a in arrays], axis=2)
        g_ap = np.stack([stored[a].g_after_ap for a in arrays], axis=2)
        high = _stack_high(stored, arrays)
        result = classify_reads(
            g_p,
            g_ap,
            g_high_p=high[0],
            g_high_ap=high[1],
            read_voltages=(plan.read_voltage, plan.bias_read_voltage),
        )
        if plan.remeasure_cycles > 0 and plan.remeasure_rounds > 0:
            reads = dict(zip(STREAMS, (g_p, g_ap, *high), strict=True))
            result = remeasure(chip, sink, plan, arrays, reads, result)
    result.warnings = [*result.warnings, *whole_line_warnings(result.codes, arrays)]
    sink.save_defect_map(arrays, result)
    return result


def _stack_high(
    stored: dict[int, SwitchingData], arrays: list[int]
) -> tuple[np.ndarray | None, np.ndarray | None]:
    """Second-voltage reads stacked like the low ones, or (None, None) unless every array has
    them (a run whose arrays differ falls back to the levels alone)."""
    if any(stored[a].g_high_p is None or stored[a].g_high_ap is None for a in arrays):
        return None, None
    return (
        np.stack([stored[a].g_high_p for a in arrays], axis=2),  # type: ignore[misc]
        np.stack([stored[a].g_high_ap for a in arrays], axis=2),  # type: ignore[misc]
    )
