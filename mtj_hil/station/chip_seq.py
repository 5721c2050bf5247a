"""Protocol sequences (:mod:`mtj_hil.protocols.sequence`) on the controller board: the
translation to board steps (firmware 1.3, docs/chip-protocol.md section 10) and back.

Each run starts with ``E`` (every line) and the converter range (``R``) and integration
(``I``) in force; then ``W`` (``V`` with decisions) for a :class:`WriteAll` (per-line
threshold codes at which the calibrated conductance crosses the threshold, so the board
decides as the host would), ``P`` for a :class:`PulseAll`, ``S`` per :class:`ReadMap`
repeat, ``D`` for a :class:`ReadStates`, ``K`` for a :class:`KnownMap` or
:class:`KnownStates`, with ``R`` and ``I`` wherever the range or integration changes. A
sequence longer than one run may last is split into several runs, each continuing from
the maps the host received. Scan frames are corrected like any other read and divided by
their read voltage; a write-verify's frames rebuild the :class:`WriteReport` the host's own
write-verify would have made (without conductances when it verified by decisions).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtj_hil.instruments.controller.seq_commands import run_duration
from mtj_hil.instruments.controller.sequence import (
    RUN_PREFIX_STEPS,
    CheckMask,
    Decide,
    Enable,
    Integration,
    Known,
    PulseStep,
    Range,
    Scan,
    SeqResult,
    SequenceRefused,
    Step,
    WriteVerify,
)
from mtj_hil.instruments.errors import InstrumentError, SafetyViolation
from mtj_hil.protocols.chip import CellState
from mtj_hil.protocols.sequence import (
    KnownMap,
    KnownStates,
    PulseAll,
    ReadMap,
    ReadStates,
    SeqStep,
    WriteAll,
)
from mtj_hil.protocols.write import WriteReport
from mtj_hil.station.chip_seq_util import (
    check_rounds,
    conductance_of,
    polarity_of,
    range_for,
    threshold_codes,
)


def run_on_board(chip: Any, array: int, steps: list[SeqStep]) -> list[Any]:
    """Run a protocol sequence on ``chip``'s board (an ``InstrumentChip`` on the ``adc``
    read path whose controller runs sequences); results as
    :func:`mtj_hil.protocols.sequence.run_on_host` gives them.

    Raises:
        SafetyViolation: a step outside the envelope (nothing sent).
        InstrumentError: the board refused or aborted the run, or a converter saturated on
            its largest range.
    """
    if not steps:
        return []  # as on the host: nothing sent (not even SEL), the board state kept
    layout = chip.layout
    tr = _translate(chip, array, steps)
    ident = chip.controller.identity
    chunks = _chunks(tr.body, ident, layout.rows)
    _check_runs(chip, steps, tr, chunks)
    got: dict[int, list[tuple[int, np.ndarray, np.ndarray | None]]] = {}
    last: dict[float, np.ndarray] = {}  # cells reading high at each voltage (host's view)
    chip._select(array)
    chip._enabled = None  # each run enables every line itself
    try:
        for start, stop in chunks:
            prefix = _prefix(chip, tr, start, stop, last)
            frames = chip.controller.run_sequence(
                prefix + tr.body[start:stop], threshold_map=tr.map_codes
            )
            by_step: dict[int, list[SeqResult]] = {}
            for frame in frames:
                by_step.setdefault(frame.step - len(prefix) + start, []).append(frame)
            for k in range(start, stop):
                step = tr.body[k]
                if isinstance(step, PulseStep):
                    last.clear()
                elif isinstance(step, Known):
                    last[step.volts] = np.array(step.high, bool).reshape(layout.rows, layout.cols)
                for frame in by_step.get(k, []):
                    high, g = _frame_states(chip, array, frame, step, tr.thr[k])
                    got.setdefault(tr.owner[k], []).append((frame.round, high, g))
                    last[step.volts] = high
    finally:
        # whatever happened, the board's routing, masks and range are no longer known
        chip._route, chip._enabled, chip._range = None, None, None
    final = next((s for s in reversed(tr.body) if isinstance(s, PulseStep | Scan | Decide)), None)
    chip._route = ("WRITE",) if isinstance(final, PulseStep) else ("ADC",) if final else None
    chip._enabled = (np.ones(layout.rows, bool).tobytes(), np.ones(layout.cols, bool).tobytes())
    chip._range = tr.range_after
    return _results(chip, array, steps, tr, got)


def _prefix(
    chip: Any, tr: _Translation, start: int, stop: int, last: dict[float, np.ndarray]
) -> list[Step]:
    """The steps a run of ``tr.body[start:stop]`` starts with: every line enabled, the
    range, integration and check mask in force, and the host's latest view of the cells
    at each of its write-verify voltages (``last``)."""
    layout = chip.layout
    prefix: list[Step] = [Enable(tuple(range(layout.rows)), tuple(range(layout.cols)))]
    # the range in force, unless the run's first step sets it anyway
    if tr.ranges[start] is not None and not isinstance(tr.body[start], Range):
        prefix.append(Range(tr.ranges[start]))
    if tr.integrations[start] is not None:
        prefix.append(Integration(tr.integrations[start]))
    if tr.masks[start] is not None:
        prefix.append(CheckMask(tuple(bool(c) for c in tr.masks[start].ravel())))
    for v in _write_voltages(tr.body[start:stop]):
        if v in last:
            prefix.append(Known(v, tuple(bool(h) for h in last[v].ravel())))
    return prefix


def _check_runs(
    chip: Any, steps: list[SeqStep], tr: _Translation, chunks: list[tuple[int, int]]
) -> None:
    """Check every run of a sequence split into several before the first is sent, so that
    a step the board would refuse (or one too long for a run) stops the whole sequence
    before anything is applied; the error names the caller's step.

    Raises:
        SafetyViolation: a step outside the envelope or the board's limits.
        InstrumentError: a step whose run may last longer than the board allows.
    """
    shape = (chip.layout.rows, chip.layout.cols)
    every_known = {v: np.zeros(shape, bool) for v in _write_voltages(tr.body)}
    for start, stop in chunks:
        body = tr.body[start:stop]
        prefix = _prefix(chip, tr, start, stop, every_known)
        try:
            chip.controller.check_sequence(prefix + body, threshold_map=tr.map_codes)
        except SequenceRefused as exc:
            k, reason = exc.index - len(prefix), exc.reason
            if k < 0:
                # a prefix step repeating a value of the run's own steps (e.g. a Known at a
                # write-verify's voltage): the run's steps alone name the step at fault
                try:
                    chip.controller.check_sequence(body, threshold_map=tr.map_codes)
                except SequenceRefused as own:
                    k, reason = own.index, own.reason
                except InstrumentError:
                    pass  # alone, its reads would be timed at the longest integration
            i = tr.owner[start + max(k, 0)]
            raise SafetyViolation(
                f"sequence refused before anything was sent: step {i} "
                f"({type(steps[i]).__name__}): {reason}"
            ) from None
        except InstrumentError as exc:
            i = tr.owner[start]
            raise InstrumentError(
                f"sequence refused before anything was sent: step {i} "
                f"({type(steps[i]).__name__}) does not fit one run on the board: {exc}"
            ) from None


class _Translation:
    """Board steps of a protocol sequence with, per board step, the protocol step it came
    from, the threshold (S) it decides with, and the range and integration in force
    before it; the write plans of the protocol's write steps."""

    def __init__(self, start_range: float | None) -> None:
        self.body: list[Step] = []
        self.owner: list[int] = []
        self.thr: list[float] = []
        self.ranges: list[float | None] = []
        self.integrations: list[float | None] = []
        self.masks: list[np.ndarray | None] = []
        self.plans: dict[int, tuple[Any, float]] = {}
        self.range_after = start_range
        self.t_int: float | None = None
        self.mask: np.ndarray | None = None
        self.map_codes: tuple[int, ...] | None = None
        """The threshold map (codes per cell) the sequence's ``T`` steps compare with."""

    def thresholds(self, chip: Any, array: int, thr: Any, volts: float, fs: float, i: int):  # noqa: ANN201
        """The ``<thresholds>`` of a board step deciding with ``thr`` (S): per-line codes
        for one value; for a ``(rows, cols)`` map None (``T``), the map's codes kept for
        the run (firmware 1.4; one map a sequence).

        Raises:
            SafetyViolation: a map on a board without maps, or a second map in one sequence.
        """
        codes = threshold_codes(chip, array, thr, volts, fs)
        if np.ndim(thr) == 0:
            return codes
        if not chip.controller.has_threshold_maps:
            raise SafetyViolation(
                f"sequence refused before anything was sent: step {i}: per-cell thresholds "
                f"need a board with threshold maps (firmware 1.4), this one runs "
                f"{chip.controller.identity.firmware}"
            )
        if self.map_codes is not None and self.map_codes != codes:
            raise SafetyViolation(
                f"sequence refused before anything was sent: step {i}: a second threshold "
                "map in one sequence (the board holds one; give every step the same map, "
                "voltage and range)"
            )
        self.map_codes = codes
        return None

    def add(self, step: Step, owner: int, thr: float = float("nan")) -> None:
        self.ranges.append(self.range_after)
        self.integrations.append(self.t_int)
        self.masks.append(self.mask)
        self.body.append(step)
        self.owner.append(owner)
        self.thr.append(thr)


def _translate(chip: Any, array: int, steps: list[SeqStep]) -> _Translation:
    layout = chip.layout
    default_t = chip.controller.identity.limits.t_int
    tr = _Translation(chip._range)

    def prepare(volts: float, integration: float | None, i: int) -> float:
        wanted = range_for(chip, volts)
        if wanted != tr.range_after:
            tr.add(Range(wanted), i)
            tr.range_after = wanted
        t = None if integration is None or integration == default_t else integration
        if t != tr.t_int:
            tr.add(Integration(t or default_t), i)
            tr.t_int = t
        return wanted

    for i, step in enumerate(steps):
        thr = layout.threshold_g if getattr(step, "threshold", None) is None else step.threshold
        if isinstance(step, WriteAll):
            fs = prepare(step.read_voltage, step.integration, i)
            mask = None if step.cells is None else np.asarray(step.cells, bool)
            if not _same_mask(mask, tr.mask):
                every = np.ones((layout.rows, layout.cols), bool)
                cells = every if mask is None else mask
                tr.add(CheckMask(tuple(bool(c) for c in cells.ravel())), i)
                tr.mask = mask
            pulses = step.pulses(layout)
            codes = tr.thresholds(chip, array, thr, step.read_voltage, fs, i)
            amps = tuple(p.amplitude for p in pulses)
            widths = tuple(p.width for p in pulses)
            high = step.state == CellState.P
            pol = polarity_of(chip, step.state)
            w = WriteVerify(
                pol,
                widths[0],
                step.read_voltage,
                high,
                amps,
                codes,
                step.decide,
                widths=None if len(set(widths)) == 1 else widths,
            )
            tr.add(w, i, thr)
            tr.plans[i] = (pulses, thr)
        elif isinstance(step, PulseAll):
            chip.envelope.check_pulse(step.pulse.amplitude, step.pulse.width)
            pol = polarity_of(chip, step.state)
            tr.add(PulseStep(pol, abs(step.pulse.amplitude), step.pulse.width), i)
        elif isinstance(step, ReadMap):
            prepare(step.read_voltage, step.integration, i)
            for _ in range(step.repeats):
                tr.add(Scan(step.read_voltage), i, thr)
        elif isinstance(step, ReadStates):
            fs = prepare(step.read_voltage, step.integration, i)
            codes = tr.thresholds(chip, array, thr, step.read_voltage, fs, i)
            tr.add(Decide(step.read_voltage, codes), i, thr)
        else:
            if isinstance(step, KnownMap):
                high = np.asarray(step.conductance, float) > layout.threshold_g
            else:
                high = np.asarray(step.high, bool)
            tr.add(Known(step.read_voltage, tuple(bool(h) for h in high.ravel())), i)
    return tr


def _same_mask(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    if a is None or b is None:
        return a is None and b is None
    return bool(np.array_equal(a, b))


def _frame_states(chip, array, frame: SeqResult, step: Step, thr: float):
    """(cells reading high, conductance map or None) of one frame."""
    if frame.high is not None:
        return frame.high, None
    g = conductance_of(chip, array, frame, step.volts)  # type: ignore[union-attr]
    return g > thr, g


def _chunks(body: list[Step], ident: Any, rows: int) -> list[tuple[int, int]]:
    """Split the board steps into runs that fit the buffer and ``t_seqmax`` (with room
    for the prefix every run starts with: :func:`_prefix`, at most ``E``, ``R``, ``I``,
    ``M`` and one ``K`` per write-verify voltage of the run)."""
    limit = 0.9 * ident.limits.t_seq_max if ident.limits.t_seq_max else float("inf")
    out: list[tuple[int, int]] = []
    start, spent, t_int = 0, 0.0, None
    volts: set[float] = set()  # the write-verify voltages of the run being filled
    for k, step in enumerate(body):
        if isinstance(step, Integration):
            t_int = step
        d = run_duration([t_int, step] if t_int and step is not t_int else [step], ident, rows)
        with_k = volts | ({step.volts} if isinstance(step, WriteVerify) else set())
        room = ident.sequence_steps - max(RUN_PREFIX_STEPS, 4 + len(with_k))
        if k > start and (spent + d > limit or k - start >= room):
            out.append((start, k))
            start, spent = k, 0.0
            with_k = {step.volts} if isinstance(step, WriteVerify) else set()
        volts = with_k
        spent += d
    if start < len(body):
        out.append((start, len(body)))
    return out


def _write_voltages(chunk: list[Step]) -> list[float]:
    """Voltages of the write-verify steps of a run."""
    return list(dict.fromkeys(s.volts for s in chunk if isinstance(s, WriteVerify)))


def _results(chip, array, steps, tr: _Translation, got) -> list[Any]:
    out: list[Any] = []
    known: dict[float, np.ndarray] = {}  # cells high, host's view, in protocol order
    known_g: dict[float, np.ndarray] = {}  # and the conductances where they were read
    shape = (chip.layout.rows, chip.layout.cols)
    for i, step in enumerate(steps):
        frames = got.get(i, [])
        if isinstance(step, WriteAll):
            pulses, thr = tr.plans[i]
            target = np.full(shape, step.state == CellState.P)
            sel = np.ones(shape, bool) if step.cells is None else np.asarray(step.cells, bool)
            first = known.get(step.read_voltage)
            if frames and frames[0][0] == 0:
                first = frames[0][1]
            if first is None:
                raise InstrumentError(f"write-verify of step {i}: the board sent no initial scan")
            rounds = [(h, g) for rnd, h, g in frames if rnd >= 1]
            final = rounds[-1][0] if rounds else first
            if rounds:
                g_final = rounds[-1][1]
            else:
                g_final = frames[0][2] if frames else known_g.get(step.read_voltage)
            out.append(
                WriteReport(
                    array,
                    target,
                    sel,
                    len(rounds),
                    len(rounds) * target.size,
                    sel & (final != target),
                    amplitudes=[p.amplitude for p in pulses[: len(rounds)]],
                    initial_errors=int((sel & (first != target)).sum()),
                    conductance=g_final,
                )
            )
            check_rounds(i, first & sel, [h & sel for h, _ in rounds], target & sel)
            known[step.read_voltage] = final
            _remember(known_g, step.read_voltage, g_final)
        elif isinstance(step, ReadMap):
            maps = np.stack([g for _, _, g in frames])
            known[step.read_voltage] = frames[-1][1]
            known_g[step.read_voltage] = maps[-1]
            out.append(maps)
        elif isinstance(step, ReadStates):
            known[step.read_voltage] = frames[0][1]
            known_g.pop(step.read_voltage, None)
            out.append(frames[0][1])
        elif isinstance(step, KnownMap | KnownStates):
            high = (
                np.asarray(step.conductance, float) > chip.layout.threshold_g
                if isinstance(step, KnownMap)
                else np.asarray(step.high, bool)
            )
            known[step.read_voltage] = high
            _remember(known_g, step.read_voltage, getattr(step, "conductance", None))
            out.append(None)
        else:
            known.clear()
            known_g.clear()
            out.append(None)
    return out


def _remember(maps: dict[float, np.ndarray], volts: float, g: np.ndarray | None) -> None:
    if g is None:
        maps.pop(volts, None)
    else:
        maps[volts] = np.asarray(g, float)
