"""Re-measurement rounds an interrupted run already stored, taken back on resume.

Each round of targeted re-measurement (:mod:`mtj_hil.protocols.characterize.remeasure`) is on
disk before the next classification. A run stopped in a later round, or after the last one
but before its defect map, has rounds that were measured and kept. Measuring them again on
resume would record those devices twice over and throw away completed data. So on resume
the stored rounds are replayed: the classification is a function of the reads, so the same
reads choose the same devices, and each stored round is checked against the devices chosen
for it before it is used. The first round that does not fit (a record from another plan or
version, a damaged one) and every later round are measured again.
"""

from __future__ import annotations

import numpy as np

from mtj_hil.protocols.defects.detect import SwitchingData

STREAMS = ("g_after_p", "g_after_ap", "g_high_p", "g_high_ap")
"""The read streams of a re-measurement record (the high ones only with a bias read)."""
StoredRound = dict[int, SwitchingData]
"""One round's data per stacked-array index (the indices of ``arrays`` in the plan)."""


def stored_rounds(
    sink: object,
    arrays: list[int],
    first: np.ndarray,
    names: list[str],
    cycles: int,
    max_rounds: int,
) -> list[StoredRound]:
    """The complete rounds ``sink`` holds (through its optional ``load_remeasurement()``,
    which gives back what ``save_remeasurement`` got) for a re-measurement whose first round re-writes
    ``first`` (bool ``(arrays, rows, cols)``) of the planned ``arrays``; [] when the sink
    keeps none, cannot give them back, or holds a record of other devices, streams or shapes.

    Args:
        names: the read streams measured (``g_after_p``, ``g_after_ap``, with a bias read
            voltage also ``g_high_p``, ``g_high_ap``).
        cycles: the plan's extra cycles per round; a record holds a whole number of rounds.
        max_rounds: the plan's rounds (a longer record is cut to it).
    """
    load = getattr(sink, "load_remeasurement", None)
    got = load() if callable(load) else None
    if got is None:
        return []
    stored_arrays, selected, data = got
    todo = [i for i in range(len(arrays)) if first[i].any()]
    if [int(a) for a in stored_arrays] != [arrays[i] for i in todo] or len(data) != len(todo):
        return []
    if np.shape(selected) != (len(todo), *first.shape[1:]) or not np.array_equal(
        np.asarray(selected, bool), first[todo]
    ):
        return []
    total = None
    for d in data:
        for n in STREAMS:
            values = getattr(d, n)
            if (values is None) != (n not in names):
                return []
            if values is None:
                continue
            shape = np.shape(values)
            if len(shape) != 4 or shape[2:] != first.shape[1:]:
                return []
            total = shape[0] if total is None else total
            if shape[0] != total:
                return []
    if not total or cycles < 1 or total % cycles:
        return []
    rounds = []
    for k in range(min(total // cycles, max_rounds)):
        part = slice(k * cycles, (k + 1) * cycles)
        rounds.append({i: _round_of(d, part, names) for i, d in zip(todo, data, strict=True)})
    return rounds


def fits(stored: StoredRound, chosen: np.ndarray) -> bool:
    """Whether a stored round is one of the devices ``chosen`` for it: it holds every array
    with a chosen device, and a reading only where a device was chosen (a later round's
    other cells read NaN)."""
    for i in range(chosen.shape[0]):
        if chosen[i].any() and i not in stored:
            return False
    for i, d in stored.items():
        read = np.isfinite(d.g_after_p).any(axis=(0, 1)) | np.isfinite(d.g_after_ap).any(
            axis=(0, 1)
        )
        if (read & ~chosen[i]).any():
            return False
    return True


def _round_of(d: SwitchingData, part: slice, names: list[str]) -> SwitchingData:
    """Cycles ``part`` of one array's stored record (write-verify residuals are not stored:
    none)."""
    g = {n: np.asarray(getattr(d, n))[part] for n in names}
    none = np.zeros((part.stop - part.start, *g["g_after_p"].shape[2:]), bool)
    return SwitchingData(residual_p=none, residual_ap=none.copy(), **g)
