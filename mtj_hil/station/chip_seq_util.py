"""Helpers of :mod:`mtj_hil.station.chip_seq`: polarities, converter ranges and the
threshold codes and conductances of board-side sequence frames."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtj_hil.instruments.controller import ADC_RANGES
from mtj_hil.instruments.controller.sequence import SeqResult
from mtj_hil.instruments.controller.wire import (
    checked_pulse,
    checked_reads,
    sent_seconds,
    sent_volts,
)
from mtj_hil.instruments.errors import InstrumentError, SafetyViolation
from mtj_hil.protocols.chip import CellState
from mtj_hil.protocols.sequence import check_sequence_limits

log = logging.getLogger("mtj_hil.station.chip_seq")


def check_rounds(i: int, first, maps, target) -> None:
    """The board stops a write-verify when no cell reads wrong: the host's reading of the
    same scans must agree (else the threshold codes and the calibration disagree).
    ``first`` and ``maps`` are the cells reading high before and after each round."""
    seen = [first, *maps]
    for r, high in enumerate(seen[:-1]):
        if not (high != target).any():
            log.warning(
                "write-verify step %d: the board pulsed after round %d, host saw it done", i, r
            )
            return


def check_envelope(chip: Any, steps: list[Any]) -> None:
    """Check every pulse and read voltage of a protocol sequence against ``chip``'s safety
    envelope before anything is sent, whichever way it then runs (on the board, or one
    command at a time on a board too old for sequences), naming the first step at fault;
    a value the wire would carry rounded is checked as it would go out too
    (:mod:`~mtj_hil.instruments.controller.wire`), so that no step of the sequence runs
    before one the driver would refuse.

    Raises:
        SafetyViolation: a pulse or read voltage outside the envelope.
        InvalidRequest: a write's pulses outside the die's limits.
    """
    env = chip.envelope
    bounds = chip.controller.identity.limits

    def check_read(volts: float) -> None:
        env.check_read_voltages(np.array([volts], float))
        if sent_volts(volts) != volts:  # as the wire carries it, too
            checked_reads(np.array([volts], float), bounds, env)

    def check_pulses(plan: list[Any]) -> None:
        env.check_pulses([p.amplitude for p in plan], [p.width for p in plan])
        for p in plan:
            amp = abs(p.amplitude)
            if (sent_volts(amp), sent_seconds(p.width)) != (amp, p.width):
                checked_pulse(amp, p.width, bounds, env)

    check_sequence_limits(
        chip.layout,
        steps,
        check_read=check_read,
        check_pulses=check_pulses,
        refusals=(SafetyViolation,),
        done="sent",
    )


def polarity_of(chip: Any, state: CellState) -> str:
    """The pulse polarity that writes ``state`` on this station."""
    p = chip.station.p_polarity
    return p if state == CellState.P else ("NEG" if p == "POS" else "POS")


def range_for(chip: Any, volts: float) -> float:
    """The converter range (A) a one-hot scan at ``volts`` starts on (as single reads do)."""
    expected = 1.5 * volts * chip._typical_g
    return next((r for r in ADC_RANGES if r >= expected), ADC_RANGES[-1])


@dataclass
class _CodeTable:
    """The calibrated conductance (S) of every converter code, ``(codes, cols)``, whether
    it rises with the code on each line, and the threshold codes found in it so far (per
    threshold shape and bytes)."""

    correction: Any
    g: np.ndarray
    rising: np.ndarray
    found: dict[tuple, tuple[int, ...]] = field(default_factory=dict)


_CODE_TABLES: dict[tuple, _CodeTable] = {}
"""Code tables per ``(bits, full_scale, cols, array, volts, id(correction))``. A table holds
the correction it was computed with, which keeps its ``id`` from passing to another one:
a new calibration always gets a new table."""

_CODE_TABLES_KEPT = 64
"""Tables kept at most (a run uses a few: one per array, read voltage and range)."""

_CODES_KEPT = 64
"""Threshold codes kept per table at most (a switching run asks for a few, thousands of
times)."""


def _code_table(chip: Any, array: int, volts: float, full_scale: float) -> _CodeTable:
    bits = chip.controller.identity.limits.adc_bits
    cols = chip.layout.cols
    correction = chip.correction
    key = (bits, float(full_scale), cols, array, float(volts), id(correction))
    table = _CODE_TABLES.get(key)
    if table is not None:
        return table
    zero = 1 << (bits - 1)
    lsb = 2.0 * full_scale / (1 << bits)
    codes = np.arange(1 << bits)
    currents = np.repeat(((codes - zero) * lsb)[:, None], cols, axis=1)
    if correction is not None:
        currents = correction.correct(array, currents)
    g = currents / volts
    g.flags.writeable = False
    table = _CodeTable(correction, g, np.all(g[1:] >= g[:-1], axis=0))
    if len(_CODE_TABLES) >= _CODE_TABLES_KEPT:
        _CODE_TABLES.clear()
    _CODE_TABLES[key] = table
    return table


def code_conductances(chip: Any, array: int, volts: float, full_scale: float) -> np.ndarray:
    """The calibrated conductance (S) each converter code stands for at ``volts`` on range
    ``full_scale``, ``(codes, cols)`` (read-only; kept for the next call with the same
    arguments and the same calibration)."""
    return _code_table(chip, array, volts, full_scale).g


def threshold_codes(
    chip: Any, array: int, thr: float | np.ndarray, volts: float, full_scale: float
) -> tuple[int, ...]:
    """Per output line (``thr`` one value, S), or per cell (``thr`` ``(rows, cols)``: row
    ``row * cols + col`` of the result, a threshold map), the largest code whose calibrated
    conductance is at most the threshold at ``volts`` on range ``full_scale``: the board
    reads a cell high when its code is above it, exactly when the host's ``g > thr``
    would.

    A line whose conductance rises with the code (every calibration with a positive gain)
    is searched (``searchsorted``); any other line counts its codes at or below the
    threshold one by one, which gives the same answer for a rising line. The answer is kept
    with the code table for the next step with the same thresholds."""
    table = _code_table(chip, array, volts, full_scale)
    wanted = np.asarray(thr, float)
    key = (wanted.shape, wanted.tobytes())
    codes = table.found.get(key)
    if codes is None:
        codes = _search(table, wanted, chip.controller.identity.limits.adc_bits)
        if len(table.found) >= _CODES_KEPT:
            table.found.clear()
        table.found[key] = codes
    return codes


def _search(table: _CodeTable, thr: np.ndarray, bits: int) -> tuple[int, ...]:
    """Threshold codes of ``thr`` (S; one value or ``(rows, cols)``) in ``table``."""
    g = table.g
    cols = g.shape[1]
    cells = np.broadcast_to(thr, (1, cols) if thr.ndim == 0 else thr.shape)
    at_or_below = np.empty(cells.shape, np.int64)
    for col in range(cols):  # one search per output line, all its cells at once
        line, wanted = g[:, col], cells[:, col]
        if table.rising[col]:
            found = np.searchsorted(line, wanted, side="right")
            at_or_below[:, col] = np.where(np.isnan(wanted), 0, found)
        else:
            at_or_below[:, col] = (line[:, None] <= wanted[None, :]).sum(axis=0)
    below = at_or_below.ravel() - 1  # the count of codes at or below, less one
    return tuple(np.clip(below, 0, (1 << bits) - 1).tolist())


def conductance_of(chip: Any, array: int, frame: SeqResult, volts: float) -> np.ndarray:
    """The ``(rows, cols)`` conductance map (S) of one scan frame, calibrated.

    Raises:
        InstrumentError: a converter saturated even on the largest range.
    """
    rng_max = 2.0 * ADC_RANGES[-1] / (1 << chip.controller.identity.limits.adc_bits)
    stuck = frame.saturated & (frame.lsb[:, None] >= rng_max * (1 - 1e-9))
    if stuck.any():
        raise InstrumentError(
            f"on-chip converter saturated even on its {ADC_RANGES[-1]:g} A range (sequence scan)"
        )
    currents = frame.currents
    if chip.correction is not None:
        currents = chip.correction.correct(array, currents)
    return currents / volts
