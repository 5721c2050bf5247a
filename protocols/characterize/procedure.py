"""Characterise a whole die: switching data of every array, then a die-wide defect map.

Results go to a :class:`CharacterizationSink` array by array as they are measured, so an
interrupted run loses at most the array in progress and resumes where it stopped.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

import numpy as np

from mtj_hil.protocols.characterize.plan import CharacterizationPlan, check_plan
from mtj_hil.protocols.chip import Chip
from mtj_hil.protocols.defects.detect import (
    DefectCode,
    DefectMap,
    SwitchingData,
    Thresholds,
    classify_reads,
    defect_map,
    measure_switching,
)
from mtj_hil.protocols.sinks import MemoryArrays, ProgressCallback, measure_missing


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
    ``plan.remeasure_budget`` of the devices, the least settled first; defect calls below
    :data:`SETTLED` too where the budget leaves room) and the die is classified again; the
    extra data
    goes to the sink. The returned map stacks the planned arrays in plan order: ``codes`` has
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
        if plan.remeasure_cycles > 0:
            result = _remeasure(chip, sink, plan, arrays, g_p, g_ap, result, high)
    sink.save_defect_map(arrays, result)
    return result


SETTLED = 0.999
"""A defect call below this confidence is re-measured with the UNCERTAIN devices when the
budget leaves room for it."""
DEFECT_CALLS = (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP)


def _remeasure(
    chip: Chip,
    sink: CharacterizationSink,
    plan: CharacterizationPlan,
    arrays: list[int],
    g_p: np.ndarray,
    g_ap: np.ndarray,
    result: DefectMap,
    high: tuple[np.ndarray | None, np.ndarray | None] = (None, None),
) -> DefectMap:
    """Extra verified cycles for UNCERTAIN devices (and doubtful defect calls), then classify
    again (see characterize_die)."""
    uncertain = result.codes == DefectCode.UNCERTAIN
    n_unc = int(uncertain.sum())
    budget = int(plan.remeasure_budget * uncertain.size)
    record = {"cycles": plan.remeasure_cycles, "uncertain_before": n_unc, "budget": budget}
    conf = np.zeros(uncertain.shape) if result.confidence is None else result.confidence
    # defect calls short of SETTLED: re-measured too where the budget leaves room (on a noisy
    # die a good device whose 3 cycles all fell 3-4 noise sigmas low is called stuck at 0.96-0.99)
    doubtful = np.isin(result.codes, DEFECT_CALLS) & (conf < SETTLED)
    room = max(budget - n_unc, 0)
    if room and doubtful.any():
        order = np.argsort(np.where(doubtful, conf, np.inf), axis=None)[: min(room, doubtful.sum())]
        record["doubtful_calls"] = int(order.size)
        uncertain = uncertain.copy()
        uncertain.flat[order] = True
    if not uncertain.any():
        result.remeasured = {**record, "devices": 0}
        return result
    if n_unc > budget:
        if budget == 0:
            result.remeasured = {**record, "devices": 0, "skipped": "more uncertain than budget"}
            result.warnings.append(
                f"{n_unc} uncertain devices exceed the re-measurement budget of {budget}: "
                "none were re-measured"
            )
            return result
        # the least settled first (a noisy die's stuck devices and small-contrast good ones
        # sit near 0.5; re-measuring none of them left 1.5 % of such a die UNCERTAIN)
        order = np.argsort(np.where(uncertain, conf, np.inf), axis=None)
        uncertain = np.zeros(uncertain.shape, bool)
        uncertain.flat[order[:budget]] = True
        record["over_budget"] = n_unc - budget
    todo = [i for i in range(len(arrays)) if uncertain[i].any()]
    extra = []
    for i in todo:
        extra.append(
            measure_switching(
                chip,
                arrays[i],
                cycles=plan.remeasure_cycles,
                reads=plan.reads,
                pulse=plan.pulse,
                read_voltage=plan.read_voltage,
                selected=uncertain[i],
                bias_read_voltage=plan.bias_read_voltage if high[0] is not None else None,
            )
        )
    sink.save_remeasurement([arrays[i] for i in todo], uncertain[todo], extra)
    shape = (plan.remeasure_cycles, *g_p.shape[1:])
    names = ["g_after_p", "g_after_ap"] + (["g_high_p", "g_high_ap"] if high[0] is not None else [])
    more = {n: np.full(shape, np.nan) for n in names}
    for i, data in zip(todo, extra, strict=True):
        for n in names:
            more[n][:, :, i] = np.where(uncertain[i], getattr(data, n), np.nan)
    more_p, more_ap = more["g_after_p"], more["g_after_ap"]
    skipped = np.concatenate(
        [
            np.zeros((g_p.shape[0], *uncertain.shape), bool),
            np.broadcast_to(~uncertain, shape[:1] + uncertain.shape),
        ]
    )
    hp = None if high[0] is None else np.concatenate([high[0], more["g_high_p"]])
    hap = None if high[1] is None else np.concatenate([high[1], more["g_high_ap"]])
    again = classify_reads(
        np.concatenate([g_p, more_p]),
        np.concatenate([g_ap, more_ap]),
        unmeasured=skipped,
        g_high_p=hp,
        g_high_ap=hap,
        read_voltages=(plan.read_voltage, plan.bias_read_voltage),
    )
    after = int((again.codes == DefectCode.UNCERTAIN).sum())
    n_sel = int(uncertain.sum())
    again.remeasured = {**record, "devices": n_sel, "arrays": len(todo), "uncertain_after": after}
    if n_sel < n_unc and budget < n_unc:
        again.warnings.append(
            f"{n_unc} uncertain devices exceed the re-measurement budget of {budget}: the "
            f"{n_sel} least settled were re-measured"
        )
    return again


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
