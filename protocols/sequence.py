"""Sequences: a measurement of one array described as whole-array steps, so that a backend
can run it without a host round trip per step.

A procedure lists its steps (:class:`WriteAll`, :class:`PulseAll`, :class:`ReadMap`,
:class:`ReadStates`, :class:`KnownMap`, :class:`KnownStates`) and calls :func:`run_sequence`. A chip with a ``run_sequence(array,
steps)`` method (an instrument station whose controller board runs sequences, firmware 1.3)
runs them on the board; any other chip runs them here one call at a time
(:func:`run_on_host`), call for call what a procedure issuing the steps itself would do, so
a simulated die gives bit-for-bit the same numbers either way.

Results come back in step order: a :class:`~mtj_hil.protocols.write.WriteReport` for a
:class:`WriteAll`, the maps ``(repeats, rows, cols)`` (S) for a :class:`ReadMap`, the
states ``(rows, cols)`` (True: above threshold, P) for a :class:`ReadStates`, ``None`` for
the others.

*Integration.* ``integration`` (s) asks for that converter integration time on backends that
can set it (a board running the sequence); ``None`` is the backend's precision reading. A
chip read one call at a time reads as it always does. *Decisions.* A :class:`ReadStates`
(and a :class:`WriteAll` with ``decide``) only needs to tell each cell's side of the
threshold: a board then returns one bit per cell instead of its converter codes (see
:mod:`mtj_hil.protocols.switching.decision` for choosing a short integration that keeps
the misread probability below a bound).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from mtj_hil.protocols.chip import CellState, Chip, Layout, Limits, Pulse, cell_state
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.read import DEFAULT_READ_VOLTAGE, MIN_READ_VOLTAGE, conductance_map
from mtj_hil.protocols.write import pulse_plan, write_weights


@dataclass(frozen=True)
class WriteAll:
    """Write every cell of the array to ``state`` with verify: :func:`write_weights` with a
    uniform target and ``pulse_all`` (``rounds`` rounds, amplitude growing by ``step`` V per
    round, or the rounds of ``plan``, verified by a map at ``read_voltage``; ``threshold`` (S)
    separates P from AP: one value, or one per cell ``(rows, cols)`` on chips that take them
    (:func:`cell_thresholds`), default the layout's). The first check uses the latest map of the sequence at
    ``read_voltage`` (a :class:`ReadMap`, an earlier write or a :class:`KnownMap`), else a
    fresh read. ``pulse`` ``None`` is the die's nominal pulse."""

    state: CellState
    pulse: Pulse | None = None
    rounds: int = 3
    step: float = 0.05
    read_voltage: float = DEFAULT_READ_VOLTAGE
    threshold: float | np.ndarray | None = None
    decide: bool = False
    integration: float | None = None
    cells: np.ndarray | None = None
    """Cells the verify checks (``(rows, cols)`` bool, default all): the others may be
    pulsed with them (a board pulses whole arrays) but never keep the write going and are
    never in the residual."""
    plan: tuple[Pulse, ...] | None = None
    """The pulse of every round, given outright (e.g.
    :func:`~mtj_hil.protocols.write.full_range_plan`: widths may differ between rounds);
    overrides ``pulse``, ``rounds`` and ``step``."""

    def pulses(self, layout: Layout) -> list[Pulse]:
        """The pulse of every round: ``plan``, else ``rounds`` from ``pulse`` (default the
        die's nominal pulse) growing by ``step`` V, capped at the die's largest.

        Raises:
            InvalidRequest: a pulse outside the die's limits (nothing is applied).
        """
        if self.plan is None:
            return pulse_plan(layout, self.pulse, self.rounds, self.step)
        for p in self.plan:
            pulse_plan(layout, p, 1, 0.0)
        return list(self.plan)


@dataclass(frozen=True)
class PulseAll:
    """One pulse towards ``state`` on every cell of the array."""

    state: CellState
    pulse: Pulse


@dataclass(frozen=True)
class ReadMap:
    """Conductance maps of the array at ``read_voltage`` (V), ``repeats`` times."""

    read_voltage: float = DEFAULT_READ_VOLTAGE
    repeats: int = 1
    integration: float | None = None


@dataclass(frozen=True)
class ReadStates:
    """Each cell's side of ``threshold`` (S: one value, or one per cell as for
    :class:`WriteAll`; default the layout's) at ``read_voltage``."""

    read_voltage: float = DEFAULT_READ_VOLTAGE
    threshold: float | np.ndarray | None = None
    integration: float | None = None


@dataclass(frozen=True)
class KnownStates:
    """Cells (``(rows, cols)`` bool) the caller last saw above the threshold at
    ``read_voltage``, for the first :class:`WriteAll` at that voltage to start from."""

    read_voltage: float
    high: np.ndarray


@dataclass(frozen=True)
class KnownMap:
    """A map (S, ``(rows, cols)``) the caller read at ``read_voltage`` just before the
    sequence, for the first :class:`WriteAll` at that voltage to start from."""

    read_voltage: float
    conductance: np.ndarray


SeqStep = WriteAll | PulseAll | ReadMap | ReadStates | KnownMap | KnownStates
STEP_TYPES = (WriteAll, PulseAll, ReadMap, ReadStates, KnownMap, KnownStates)


CELL_MAPS = {WriteAll: "cells", KnownStates: "high", KnownMap: "conductance"}
"""The per-cell arrays of each step kind (attribute names), ``(rows, cols)`` of the die."""


def check_steps(steps: list[SeqStep], layout: Layout | None = None) -> None:
    """Refuse malformed steps before anything is applied.

    Raises:
        InvalidRequest: an unknown step, a value of the wrong kind (a state that is not a
            CellState, a pulse that is not a Pulse, a count that is not an integer, a value
            that is not a number), rounds or repeats below 1, a read voltage or
            integration not positive, a threshold not positive and finite, a negative
            escalation step, a :class:`KnownMap` holding NaN, or (given ``layout``) a cell
            map (:data:`CELL_MAPS`) that is not one value per cell of the die.
    """
    for i, step in enumerate(steps):
        name = CELL_MAPS.get(type(step))
        cells = None if name is None else getattr(step, name)
        if layout is not None and cells is not None:
            shape = (layout.rows, layout.cols)
            if np.shape(cells) != shape:
                raise InvalidRequest(
                    f"sequence step {i} ({type(step).__name__}): {name} must hold one value "
                    f"per cell, shape {shape}; got shape {np.shape(cells)}"
                )
        if isinstance(step, KnownMap) and np.isnan(np.asarray(step.conductance, float)).any():
            # a missing reading would count as low (AP) and steer the write-verify
            raise InvalidRequest(
                f"sequence step {i} (KnownMap): conductance holds NaN (a cell not read); "
                "leave the map out and the write scans first"
            )
        if not isinstance(step, STEP_TYPES):
            raise InvalidRequest(f"sequence step {i} is not a sequence step: {step!r}")
        problem = _kinds_wrong(step)
        if problem:
            raise InvalidRequest(f"sequence step {i} ({type(step).__name__}): {problem}")
        if isinstance(step, WriteAll) and (step.rounds < 1 or step.step < 0):
            raise InvalidRequest(f"sequence step {i}: rounds must be >= 1 and step >= 0 V")
        if isinstance(step, WriteAll) and step.plan is not None and len(step.plan) < 1:
            raise InvalidRequest(f"sequence step {i}: a write plan needs at least one pulse")
        if isinstance(step, ReadMap) and step.repeats < 1:
            raise InvalidRequest(f"sequence step {i}: repeats must be >= 1")
        volts = getattr(step, "read_voltage", None)
        if volts is not None and not volts >= MIN_READ_VOLTAGE:
            raise InvalidRequest(
                f"sequence step {i}: read voltage must be at least {MIN_READ_VOLTAGE:g} V, "
                f"got {volts}"
            )
        t_int = getattr(step, "integration", None)
        if t_int is not None and not t_int > 0:
            raise InvalidRequest(f"sequence step {i}: integration must be > 0 s, got {t_int}")
        _check_threshold(i, getattr(step, "threshold", None), layout)


def _check_threshold(i: int, thr: Any, layout: Layout | None) -> None:
    """Refuse a threshold (S) that is not > 0 and finite, or a per-cell one not of the
    die's shape: a board and a host would read NaN or a negative threshold differently."""
    if thr is None:
        return
    if isinstance(thr, bool) or not (
        isinstance(thr, numbers.Real | np.ndarray) and np.asarray(thr).dtype.kind in "iuf"
    ):
        raise InvalidRequest(
            f"sequence step {i}: threshold must be a number or one per cell, got {thr!r}"
        )
    if np.ndim(thr) not in (0, 2) or (
        layout is not None and np.ndim(thr) == 2 and np.shape(thr) != (layout.rows, layout.cols)
    ):
        want = "" if layout is None else f" {(layout.rows, layout.cols)}"
        raise InvalidRequest(
            f"sequence step {i}: a threshold per cell must have the die's shape{want}; "
            f"got shape {np.shape(thr)}"
        )
    values = np.asarray(thr, float)
    if not np.all((values > 0) & (values < np.inf)):
        bad = values.ravel()[~((values.ravel() > 0) & (values.ravel() < np.inf))][0]
        raise InvalidRequest(f"sequence step {i}: threshold must be > 0 S, got {bad}")


def cell_thresholds(chip: Chip) -> bool:
    """True when sequence steps on ``chip`` may decide with one threshold per cell: a chip
    that runs them here compares every cell itself; one with its own ``run_sequence`` only
    when it says so (its ``cell_thresholds`` attribute, e.g. a board with threshold maps)."""
    if getattr(chip, "run_sequence", None) is None:
        return True
    return bool(getattr(chip, "cell_thresholds", False))


_NUMBERS = ("read_voltage", "integration", "step")
"""Step fields that must be real numbers where given (V, s, V; thresholds: see
:func:`_check_threshold`)."""


def _kinds_wrong(step: SeqStep) -> str | None:
    """What is of the wrong kind in ``step`` (``None``: nothing): a state that is not a
    :class:`CellState` (``"P"`` would compare unequal to ``CellState.P`` and write AP), a
    pulse that is not a :class:`Pulse`, a count that is not an integer, a value that is
    not a number."""
    state = getattr(step, "state", None)
    if isinstance(step, WriteAll | PulseAll):
        try:
            cell_state(state)  # True or 1.0 are not states
        except InvalidRequest as exc:
            return str(exc)
    pulses = [getattr(step, "pulse", None), *(getattr(step, "plan", None) or ())]
    if isinstance(step, PulseAll) and step.pulse is None:
        return "a pulse is needed, got None"
    bad = [p for p in pulses if p is not None and not isinstance(p, Pulse)]
    if bad:
        return f"pulses must be Pulse(amplitude, width), got {bad[0]!r}"
    for name in ("rounds", "repeats"):
        count = getattr(step, name, 1)
        if isinstance(count, bool) or not isinstance(count, numbers.Integral):
            return f"{name} must be an integer, got {count!r}"
    for name in _NUMBERS:
        value = getattr(step, name, None)
        if value is not None and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            return f"{name} must be a number, got {value!r}"
    return None


def _read_within(limits: Limits, volts: float) -> None:
    """Refuse a read voltage (V) above the die's read limit (or not finite)."""
    if not abs(volts) <= limits.max_read_voltage:
        raise InvalidRequest(
            f"read voltage {volts:.4g} V exceeds the die's limit of {limits.max_read_voltage:g} V"
        )


def _pulses_within(limits: Limits, pulses: list[Pulse]) -> None:
    """Refuse a pulse whose amplitude (V, as a magnitude) or width (s) lies outside the
    die's limits (or is not finite)."""
    amps = np.abs(np.array([p.amplitude for p in pulses], float))
    widths = np.array([p.width for p in pulses], float)
    lo, hi = limits.min_pulse_amplitude, limits.max_pulse_amplitude
    bad = ~((amps >= lo) & (amps <= hi))  # NaN fails both comparisons
    if bad.any():
        raise InvalidRequest(
            f"pulse amplitude {amps[bad][0]:.4g} V is outside the die's limits {lo:g}..{hi:g} V"
        )
    lo, hi = limits.min_pulse_width, limits.max_pulse_width
    bad = ~((widths >= lo) & (widths <= hi))
    if bad.any():
        raise InvalidRequest(
            f"pulse width {widths[bad][0]:.4g} s is outside the die's limits {lo:g}..{hi:g} s"
        )


def check_sequence_limits(
    layout: Layout,
    steps: list[SeqStep],
    *,
    check_read: Callable[[float], None] | None = None,
    check_pulses: Callable[[list[Pulse]], None] | None = None,
    refusals: tuple[type[Exception], ...] = (),
    done: str = "applied",
) -> None:
    """Check every read voltage and pulse of ``steps`` before the first of them runs, naming
    the first step at fault: ``sequence refused before anything was applied: step i
    (Kind): ...``.

    Args:
        layout: the die; its ``limits`` are the default checks, and a :class:`WriteAll`'s
            pulses are its rounds for this die (:meth:`WriteAll.pulses`).
        check_read, check_pulses: checks of one read voltage (V) and of a list of pulses
            that raise on a value out of bounds; default the die's limits. A backend with
            its own envelope passes its checks here, and their error types in ``refusals``.
        done: the word after "before anything was" (a board: ``"sent"``).

    Raises:
        InvalidRequest (or one of ``refusals``): a read voltage or pulse out of bounds.
    """
    read = check_read or (lambda volts: _read_within(layout.limits, volts))
    pulses = check_pulses or (lambda plan: _pulses_within(layout.limits, plan))
    for i, step in enumerate(steps):
        try:
            volts = getattr(step, "read_voltage", None)
            if volts is not None:
                read(volts)
            if isinstance(step, WriteAll):
                pulses(step.pulses(layout))
            elif isinstance(step, PulseAll):
                pulses([step.pulse])
        except (InvalidRequest, *refusals) as exc:
            raise type(exc)(
                f"sequence refused before anything was {done}: step {i} "
                f"({type(step).__name__}): {exc}"
            ) from None


def sets_integration(chip: Chip) -> bool:
    """True when ``chip`` honours the ``integration`` of sequence steps (its
    ``sets_integration`` attribute, e.g. a board running sequences)."""
    return bool(getattr(chip, "sets_integration", False))


def run_sequence(chip: Chip, array: int, steps: list[SeqStep]) -> list[Any]:
    """Run ``steps`` on ``array``: on the chip's board if it runs sequences, else here.

    Raises:
        InvalidRequest: a malformed step, or a cell map not of the die's shape (nothing
            applied); and whatever the chip raises.
    """
    check_steps(steps, chip.layout)
    runner = getattr(chip, "run_sequence", None)
    if runner is not None:
        return runner(array, steps)
    return _run_checked_steps(chip, array, steps)


def run_on_host(chip: Chip, array: int, steps: list[SeqStep]) -> list[Any]:
    """Run ``steps`` through ``chip.program`` and ``chip.read``, one call at a time.

    Raises:
        InvalidRequest: a malformed step, or a read voltage or pulse of any step outside the
            die's limits (:func:`check_sequence_limits`: nothing is applied, not even the
            steps before it); and whatever the chip raises.
    """
    check_steps(steps, chip.layout)
    return _run_checked_steps(chip, array, steps)


def _run_checked_steps(chip: Chip, array: int, steps: list[SeqStep]) -> list[Any]:
    """:func:`run_on_host` of steps :func:`check_steps` has passed."""
    layout = chip.layout
    check_sequence_limits(layout, steps)
    shape = (layout.rows, layout.cols)
    known: dict[float, np.ndarray] = {}
    out: list[Any] = []
    for step in steps:
        if isinstance(step, WriteAll):
            report = write_weights(
                chip,
                array,
                np.full(shape, step.state == CellState.P),
                pulse=step.pulse,
                max_rounds=step.rounds,
                escalation_step=step.step,
                plan=None if step.plan is None else list(step.plan),
                read_voltage=step.read_voltage,
                threshold=step.threshold,
                known_conductance=known.get(step.read_voltage),
                pulse_all=True,
                selected=step.cells,
            )
            assert report.conductance is not None
            known[step.read_voltage] = report.conductance
            out.append(report)
        elif isinstance(step, PulseAll):
            chip.program(array, np.ones(shape, bool), step.state, step.pulse)
            known.clear()
            out.append(None)
        elif isinstance(step, ReadMap):
            maps = conductance_map(chip, array, step.read_voltage, step.repeats)
            known[step.read_voltage] = maps[-1]
            out.append(maps)
        elif isinstance(step, ReadStates):
            g = conductance_map(chip, array, step.read_voltage)[0]
            known[step.read_voltage] = g
            thr = layout.threshold_g if step.threshold is None else step.threshold
            out.append(g > thr)
        elif isinstance(step, KnownStates):
            # only the side of the threshold is known: stand-in conductances on each side
            known[step.read_voltage] = np.where(np.asarray(step.high, bool), np.inf, 0.0)
            out.append(None)
        else:
            known[step.read_voltage] = np.asarray(step.conductance, float)
            out.append(None)
    return out
