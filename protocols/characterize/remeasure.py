"""Targeted re-measurement: extra verified write-read cycles for the devices a
characterisation could not settle, in rounds, then the die classified again.

Round 1 takes the UNCERTAIN devices and, where the budget leaves room, the defect calls below
:data:`SETTLED` (least settled first). Each later round takes the devices of round 1 that are
still unsettled after the classification with every cycle so far, so a device the first
extra cycles left near 50:50 gets more, and one they settled gets none. Rounds stop at
``plan.remeasure_rounds`` or when nothing is left to settle.

The sink receives one record of all rounds, replaced after each round (so a run stopped in
a later round keeps the earlier rounds' data): the arrays and cells of round 1, and per array
the extra cycles in order (round after round); in the cycles of a later round, a cell that
round did not re-write reads NaN (so a one-round record is what it always was). A resumed
run takes the rounds its sink already holds from there
(:mod:`~mtj_hil.protocols.characterize.replay`) and measures only the rest.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from mtj_hil.protocols.characterize.plan import CharacterizationPlan
from mtj_hil.protocols.characterize.replay import STREAMS, fits, stored_rounds
from mtj_hil.protocols.chip import Chip
from mtj_hil.protocols.defects.detect import (
    DefectCode,
    DefectMap,
    SwitchingData,
    classify_reads,
    measure_switching,
)

SETTLED = 0.999
"""A defect call below this confidence is re-measured with the UNCERTAIN devices when the
budget leaves room for it."""
DEFECT_CALLS = (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP)


class RemeasurementSink(Protocol):
    """Where the re-measurement goes (see :class:`~.procedure.CharacterizationSink`)."""

    def save_remeasurement(
        self, arrays: list[int], selected: np.ndarray, data: list[SwitchingData]
    ) -> None: ...


def remeasure(
    chip: Chip,
    sink: RemeasurementSink,
    plan: CharacterizationPlan,
    arrays: list[int],
    reads: dict[str, np.ndarray | None],
    result: DefectMap,
) -> DefectMap:
    """Re-measure the devices ``result`` left unsettled, in rounds, and classify again.

    ``reads`` holds the die's stacked reads ``(cycles, reads, arrays, rows, cols)`` (S) under
    the names of :data:`STREAMS` (the high ones None without a bias read). Returns the last
    classification, its ``remeasured`` entry saying what each round did.
    """
    budget = int(plan.remeasure_budget * result.codes.size)
    record: dict[str, Any] = {
        "cycles": plan.remeasure_cycles,
        "uncertain_before": int((result.codes == DefectCode.UNCERTAIN).sum()),
        "budget": budget,
    }
    chosen, note = _first_round(result, budget, record)
    if chosen is None:
        result.remeasured = {**record, "devices": 0, **note}
        if note:
            result.warnings.append(
                f"{record['uncertain_before']} uncertain devices exceed the re-measurement "
                f"budget of {budget}: none were re-measured"
            )
        return result
    first = chosen
    names = [n for n in STREAMS if reads.get(n) is not None]
    stacked = {n: [reads[n]] for n in names}
    skipped = [np.zeros((reads["g_after_p"].shape[0], *first.shape), bool)]
    measured: list[tuple[np.ndarray, dict[int, SwitchingData]]] = []
    rounds: list[dict[str, int]] = []
    current = result
    # an interrupted run's rounds already on disk are replayed, not measured again
    stored = stored_rounds(sink, arrays, first, names, plan.remeasure_cycles, plan.remeasure_rounds)
    replayed = 0
    while chosen is not None:
        k = len(measured)
        replay = k < len(stored) and (k == 0 or fits(stored[k], chosen))
        if replay:
            data = {i: d for i, d in stored[k].items() if chosen[i].any()}
            replayed += 1
        else:
            if k < len(stored):
                note["measured_again"] = len(stored) - k  # a stored round of other devices
            stored = []
            data = _measure_round(chip, plan, arrays, chosen, "g_high_p" in names)
        measured.append((chosen, data))
        if not replay:
            _save(sink, arrays, measured, names)  # on disk before the next classification
        for n in names:
            more = np.full((plan.remeasure_cycles, *reads[n].shape[1:]), np.nan)
            for i, d in data.items():
                more[:, :, i] = np.where(chosen[i], getattr(d, n), np.nan)
            stacked[n].append(more)
        skipped.append(np.broadcast_to(~chosen, (plan.remeasure_cycles, *chosen.shape)))
        current = classify_reads(
            np.concatenate(stacked["g_after_p"]),
            np.concatenate(stacked["g_after_ap"]),
            unmeasured=np.concatenate(skipped),
            g_high_p=np.concatenate(stacked["g_high_p"]) if "g_high_p" in names else None,
            g_high_ap=np.concatenate(stacked["g_high_ap"]) if "g_high_ap" in names else None,
            read_voltages=(plan.read_voltage, plan.bias_read_voltage),
        )
        rounds.append(
            {
                "devices": int(chosen.sum()),
                "arrays": len(data),
                "uncertain_after": int((current.codes == DefectCode.UNCERTAIN).sum()),
            }
        )
        chosen = _next_round(current, first) if len(rounds) < plan.remeasure_rounds else None
    if replayed:
        note["replayed_rounds"] = replayed
    current.remeasured = {**record, **rounds[0], **note}
    current.remeasured["uncertain_after"] = rounds[-1]["uncertain_after"]
    if len(rounds) > 1:
        current.remeasured["rounds"] = rounds
    n_unc, n_sel = record["uncertain_before"], rounds[0]["devices"]
    if n_sel < n_unc and budget < n_unc:
        current.warnings.append(
            f"{n_unc} uncertain devices exceed the re-measurement budget of {budget}: the "
            f"{n_sel} least settled were re-measured"
        )
    return current


def _first_round(
    result: DefectMap, budget: int, record: dict[str, Any]
) -> tuple[np.ndarray | None, dict[str, Any]]:
    """Round 1's devices (bool, the stacked arrays' shape; None: none) and notes."""
    uncertain = result.codes == DefectCode.UNCERTAIN
    n_unc = int(uncertain.sum())
    conf = np.zeros(uncertain.shape) if result.confidence is None else result.confidence
    # defect calls short of SETTLED: re-measured too where the budget leaves room (on a noisy
    # die a good device whose 3 cycles all fell 3-4 noise sigmas low is called stuck at 0.96-0.99)
    doubtful = _doubtful(result)
    room = max(budget - n_unc, 0)
    if room and doubtful.any():
        order = np.argsort(np.where(doubtful, conf, np.inf), axis=None)[: min(room, doubtful.sum())]
        record["doubtful_calls"] = int(order.size)
        uncertain = uncertain.copy()
        uncertain.flat[order] = True
    if not uncertain.any():
        return None, {}
    if n_unc > budget:
        if budget == 0:
            return None, {"skipped": "more uncertain than budget"}
        # the least settled first (a noisy die's stuck devices and small-contrast good ones
        # sit near 0.5; re-measuring none of them left 1.5 % of such a die UNCERTAIN)
        order = np.argsort(np.where(uncertain, conf, np.inf), axis=None)
        uncertain = np.zeros(uncertain.shape, bool)
        uncertain.flat[order[:budget]] = True
        return uncertain, {"over_budget": n_unc - budget}
    return uncertain, {}


def _next_round(result: DefectMap, first: np.ndarray) -> np.ndarray | None:
    """The devices of round 1 still unsettled: UNCERTAIN, or a defect call below SETTLED."""
    chosen = first & ((result.codes == DefectCode.UNCERTAIN) | _doubtful(result))
    return chosen if chosen.any() else None


def _doubtful(result: DefectMap) -> np.ndarray:
    """Defect calls below :data:`SETTLED` confidence (bool, the codes' shape)."""
    conf = np.zeros(result.codes.shape) if result.confidence is None else result.confidence
    return np.isin(result.codes, DEFECT_CALLS) & (conf < SETTLED)


def _measure_round(
    chip: Chip, plan: CharacterizationPlan, arrays: list[int], chosen: np.ndarray, high: bool
) -> dict[int, SwitchingData]:
    """One round's extra verified cycles, per stacked-array index with a chosen device."""
    return {
        i: measure_switching(
            chip,
            arrays[i],
            cycles=plan.remeasure_cycles,
            reads=plan.reads,
            pulse=plan.pulse,
            read_voltage=plan.read_voltage,
            selected=chosen[i],
            bias_read_voltage=plan.bias_read_voltage if high else None,
        )
        for i in range(len(arrays))
        if chosen[i].any()
    }


def _save(
    sink: RemeasurementSink,
    arrays: list[int],
    measured: list[tuple[np.ndarray, dict[int, SwitchingData]]],
    names: list[str],
) -> None:
    """One record of every round: round 1's arrays and cells, and per array all extra cycles
    in order (a later round's cells that sat out, and arrays it did not visit, as NaN)."""
    first, data = measured[0]
    todo = sorted(data)
    if len(measured) == 1:
        sink.save_remeasurement([arrays[i] for i in todo], first[todo], [data[i] for i in todo])
        return
    merged = []
    for i in todo:
        parts: dict[str, list[np.ndarray]] = {n: [] for n in (*names, "residual_p", "residual_ap")}
        for k, (chosen, round_data) in enumerate(measured):
            d = round_data.get(i)
            for n in names:
                if d is None:
                    parts[n].append(np.full_like(getattr(data[i], n), np.nan))
                else:
                    values = getattr(d, n)
                    parts[n].append(values if k == 0 else np.where(chosen[i], values, np.nan))
            for n in ("residual_p", "residual_ap"):
                parts[n].append(np.zeros_like(getattr(data[i], n)) if d is None else getattr(d, n))
        cycles = {n: np.concatenate(v) for n, v in parts.items()}
        merged.append(SwitchingData(**cycles))
    sink.save_remeasurement([arrays[i] for i in todo], first[todo], merged)
