"""Protocol sequences (:mod:`mtj_hil.protocols.sequence`) on the controller board: the
translation to board steps (firmware 1.3, docs/chip-protocol.md section 10) and back.

One protocol sequence becomes one board sequence: ``E`` (every line), ``R`` where the
converter range must change, ``W`` for a :class:`WriteAll` (its per-line threshold codes are
those at which the calibrated conductance crosses the threshold, so the board decides as the
host would), ``P`` for a :class:`PulseAll`, ``S`` per :class:`ReadMap` repeat and ``K`` for a
:class:`KnownMap`. Every ``DAT`` frame is corrected like any other read and divided by its
read voltage; a write-verify's frames rebuild the :class:`WriteReport` the host's own
write-verify would have made.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from mtj_hil.instruments.controller import ADC_RANGES
from mtj_hil.instruments.controller.seq_commands import run_duration
from mtj_hil.instruments.controller.sequence import (
    Enable,
    Known,
    PulseStep,
    Range,
    Scan,
    SeqResult,
    Step,
    WriteVerify,
)
from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.protocols.chip import CellState
from mtj_hil.protocols.sequence import KnownMap, PulseAll, ReadMap, SeqStep, WriteAll
from mtj_hil.protocols.write import WriteReport, pulse_plan

log = logging.getLogger(__name__)


def run_on_board(chip: Any, array: int, steps: list[SeqStep]) -> list[Any]:
    """Run a protocol sequence on ``chip``'s board (an ``InstrumentChip`` on the ``adc``
    read path whose controller runs sequences); results as
    :func:`mtj_hil.protocols.sequence.run_on_host` gives them. A sequence longer than one run
    may last (``t_seqmax``) or than the board's buffer is split into several runs; each
    starts from the maps the host received (``K`` steps).

    Raises:
        SafetyViolation: a step outside the envelope (nothing sent).
        InstrumentError: the board refused or aborted the run, or a converter saturated on
            its largest range.
    """
    layout = chip.layout
    every = tuple(range(layout.rows)), tuple(range(layout.cols))
    body, owner, plans, ranges = _translate(chip, array, steps)
    ident = chip.controller.identity
    got: dict[int, list[tuple[int, np.ndarray]]] = {}
    last_g: dict[float, np.ndarray] = {}
    chip._select(array)
    chip._enabled = None  # each run enables every line itself
    try:
        for start, stop in _chunks(body, ident, layout.rows):
            prefix: list[Step] = [Enable(*every)]
            if ranges[start] is not None:
                prefix.append(Range(ranges[start]))
            for v, thr in _write_voltages(body[start:stop], plans, owner[start:stop]):
                if v in last_g:
                    high = last_g[v] > thr
                    prefix.append(Known(v, tuple(bool(h) for h in high.ravel())))
            frames = chip.controller.run_sequence(prefix + body[start:stop])
            by_step: dict[int, list[SeqResult]] = {}
            for frame in frames:
                by_step.setdefault(frame.step - len(prefix) + start, []).append(frame)
            for k in range(start, stop):
                step = body[k]
                if isinstance(step, PulseStep):
                    last_g.clear()
                elif isinstance(step, Known):
                    last_g[step.volts] = plans[("known", owner[k])]
                for frame in by_step.get(k, []):
                    g = conductance_of(chip, array, frame, step.volts)
                    got.setdefault(owner[k], []).append((frame.round, g))
                    last_g[step.volts] = g
    finally:
        # whatever happened, the board's routing, masks and range are no longer known
        chip._route, chip._enabled, chip._range = None, None, None
    last = next((s for s in reversed(body) if isinstance(s, PulseStep | Scan | WriteVerify)), None)
    chip._route = ("WRITE",) if isinstance(last, PulseStep) else ("ADC",) if last else None
    chip._enabled = (np.ones(layout.rows, bool).tobytes(), np.ones(layout.cols, bool).tobytes())
    chip._range = next((s.full_scale for s in reversed(body) if isinstance(s, Range)), ranges[0])
    return _results(chip, array, steps, plans, got)


def _translate(chip: Any, array: int, steps: list[SeqStep]):
    """Board steps of a protocol sequence, the protocol step each came from, the write
    plans, and the converter range in force before each board step."""
    layout = chip.layout
    body: list[Step] = []
    owner: list[int] = []
    ranges: list[float | None] = []
    plans: dict[Any, Any] = {}
    full_scale = chip._range

    def add(step: Step, i: int) -> None:
        ranges.append(full_scale)
        body.append(step)
        owner.append(i)

    def set_range(volts: float, i: int) -> float:
        nonlocal full_scale
        wanted = range_for(chip, volts)
        if wanted != full_scale:
            add(Range(wanted), i)
            full_scale = wanted
        return wanted

    for i, step in enumerate(steps):
        if isinstance(step, WriteAll):
            fs = set_range(step.read_voltage, i)
            pulses = pulse_plan(layout, step.pulse or layout.nominal_pulse, step.rounds, step.step)
            thr = layout.threshold_g if step.threshold is None else step.threshold
            codes = threshold_codes(chip, array, thr, step.read_voltage, fs)
            amps = tuple(p.amplitude for p in pulses)
            high = step.state == CellState.P
            pol = polarity_of(chip, step.state)
            add(WriteVerify(pol, pulses[0].width, step.read_voltage, high, amps, codes), i)
            plans[i] = (pulses, thr)
        elif isinstance(step, PulseAll):
            chip.envelope.check_pulse(step.pulse.amplitude, step.pulse.width)
            pol = polarity_of(chip, step.state)
            add(PulseStep(pol, abs(step.pulse.amplitude), step.pulse.width), i)
        elif isinstance(step, ReadMap):
            set_range(step.read_voltage, i)
            for _ in range(step.repeats):
                add(Scan(step.read_voltage), i)
        else:
            g = np.asarray(step.conductance, float)
            high = g > layout.threshold_g
            add(Known(step.read_voltage, tuple(bool(h) for h in high.ravel())), i)
            plans[("known", i)] = g
    return body, owner, plans, ranges


def _chunks(body: list[Step], ident: Any, rows: int) -> list[tuple[int, int]]:
    """Split the board steps into runs that fit the buffer and ``t_seqmax`` (with room
    for the prefix every run starts with)."""
    limit = 0.9 * ident.limits.t_seq_max if ident.limits.t_seq_max else float("inf")
    room = ident.sequence_steps - 4
    out: list[tuple[int, int]] = []
    start, spent = 0, 0.0
    for k, step in enumerate(body):
        d = run_duration([step], ident, rows)
        if k > start and (spent + d > limit or k - start >= room):
            out.append((start, k))
            start, spent = k, 0.0
        spent += d
    if start < len(body):
        out.append((start, len(body)))
    return out


def _write_voltages(chunk: list[Step], plans: dict[Any, Any], owners: list[int]):
    """(voltage, threshold) of the first write-verify at each voltage in a run."""
    seen: dict[float, float] = {}
    for step, i in zip(chunk, owners, strict=True):
        if isinstance(step, WriteVerify) and step.volts not in seen:
            seen[step.volts] = plans[i][1]
    return list(seen.items())


def _results(chip, array, steps, plans, got: dict[int, list[tuple[int, np.ndarray]]]) -> list:
    out: list[Any] = []
    known: dict[float, np.ndarray] = {}
    shape = (chip.layout.rows, chip.layout.cols)
    for i, step in enumerate(steps):
        frames = got.get(i, [])
        if isinstance(step, WriteAll):
            pulses, thr = plans[i]
            target = np.full(shape, step.state == CellState.P)
            first = known.get(step.read_voltage)
            if frames and frames[0][0] == 0:
                first = frames[0][1]
            if first is None:
                raise InstrumentError(f"write-verify of step {i}: the board sent no initial scan")
            maps = [g for rnd, g in frames if rnd >= 1]
            final = maps[-1] if maps else first
            report = WriteReport(
                array,
                target,
                np.ones(shape, bool),
                len(maps),
                len(maps) * target.size,
                (final > thr) != target,
                amplitudes=[p.amplitude for p in pulses[: len(maps)]],
                initial_errors=int(((first > thr) != target).sum()),
                conductance=final,
            )
            _check_rounds(i, first, maps, thr, target, len(pulses))
            known[step.read_voltage] = final
            out.append(report)
        elif isinstance(step, ReadMap):
            maps = np.stack([g for _, g in frames])
            known[step.read_voltage] = maps[-1]
            out.append(maps)
        elif isinstance(step, KnownMap):
            known[step.read_voltage] = np.asarray(step.conductance, float)
            out.append(None)
        else:
            known.clear()
            out.append(None)
    return out


def _check_rounds(i, first, maps, thr, target, max_rounds) -> None:
    """The board stops a write-verify when no cell reads wrong: the host's reading of the
    same maps must agree (else the threshold codes and the calibration disagree)."""
    seen = [first, *maps]
    for r, g in enumerate(seen[:-1]):
        if not ((g > thr) != target).any():
            log.warning(
                "write-verify step %d: the board pulsed after round %d, host saw it done", i, r
            )
            return
    done = not ((seen[-1] > thr) != target).any()
    if not done and len(maps) < max_rounds:
        log.warning("write-verify step %d: the board stopped with cells the host reads wrong", i)


def polarity_of(chip: Any, state: CellState) -> str:
    """The pulse polarity that writes ``state`` on this station."""
    p = chip.station.p_polarity
    return p if state == CellState.P else ("NEG" if p == "POS" else "POS")


def range_for(chip: Any, volts: float) -> float:
    """The converter range (A) a one-hot scan at ``volts`` starts on (as single reads do)."""
    expected = 1.5 * volts * chip._typical_g
    return next((r for r in ADC_RANGES if r >= expected), ADC_RANGES[-1])


def threshold_codes(
    chip: Any, array: int, thr: float, volts: float, full_scale: float
) -> tuple[int, ...]:
    """Per output line, the largest code whose calibrated conductance is at most ``thr``
    (S) at ``volts`` on range ``full_scale``: the board reads a cell high when its code is
    above it, exactly when the host's ``g > thr`` would."""
    bits = chip.controller.identity.limits.adc_bits
    zero = 1 << (bits - 1)
    lsb = 2.0 * full_scale / (1 << bits)
    codes = np.arange(1 << bits)
    currents = np.repeat(((codes - zero) * lsb)[:, None], chip.layout.cols, axis=1)
    if chip.correction is not None:
        currents = chip.correction.correct(array, currents)
    g = currents / volts
    below = (g <= thr).sum(axis=0) - 1  # monotone in the code: the count of codes at or below
    return tuple(int(c) for c in np.clip(below, 0, (1 << bits) - 1))


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
