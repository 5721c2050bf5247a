"""Writing bit patterns into an array with write-verify."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field

import numpy as np

from mtj_hil.protocols.chip import CellState, Chip, Layout, Pulse, check_write_pulse
from mtj_hil.protocols.errors import InvalidRequest
from mtj_hil.protocols.plan_values import is_real, is_whole
from mtj_hil.protocols.read import DEFAULT_READ_VOLTAGE, check_read_voltage, conductance_map


@dataclass
class WriteReport:
    """Outcome of one write-verify of an array.

    Attributes:
        array: the array written.
        target: bits written (True = P, low resistance), shape ``(rows, cols)``.
        selected: cells that were part of the write.
        rounds: verify rounds run (1 = first pulse only).
        pulses: cell-pulses applied in total (one pulse on one cell counts one).
        residual: selected cells that still read the wrong state at the end.
        amplitudes: pulse amplitude (V) used in each round.
        elapsed: wall time (s).
        initial_errors: selected cells in the wrong state before the first pulse.
        conductance: the array's conductance map (S) from the last verify read.
    """

    array: int
    target: np.ndarray
    selected: np.ndarray
    rounds: int
    pulses: int
    residual: np.ndarray
    amplitudes: list[float] = field(default_factory=list)
    elapsed: float = 0.0
    initial_errors: int = 0
    conductance: np.ndarray | None = None

    @property
    def errors(self) -> int:
        """Number of selected cells left in the wrong state (given up as stuck)."""
        return int(self.residual.sum())

    @property
    def error_rate(self) -> float:
        """Residual errors as a fraction of the selected cells."""
        n = int(self.selected.sum())
        return self.errors / n if n else 0.0


MAX_ROUNDS = 1000
"""Most write-verify rounds one call takes (each round's pulse is planned up front)."""


def pulse_plan(layout: Layout, pulse: Pulse | None, rounds: int, step: float) -> list[Pulse]:
    """The pulses of every round of a write-verify from ``pulse`` (None: the die's nominal
    pulse): amplitude grows by ``step`` (V) per round, never past the die's maximum.

    Raises:
        InvalidRequest: the first pulse lies outside the die's limits (nothing is applied).
    """
    lim = layout.limits
    pulse = check_write_pulse(layout, pulse)
    if not is_real(step) or not 0.0 <= step < math.inf:
        raise InvalidRequest(f"escalation step must be a finite value >= 0 V, got {step!r}")
    return [
        Pulse(min(pulse.amplitude + k * step, lim.max_pulse_amplitude), pulse.width)
        for k in range(rounds)
    ]


def full_range_plan(layout: Layout, pulse: Pulse | None, rounds: int) -> list[Pulse]:
    """A write-verify plan that uses the die's whole allowed pulse range before a cell is
    given up: the amplitude rises evenly from ``pulse`` (None: the die's nominal pulse) to
    the die's largest amplitude over ``rounds - 1`` rounds, and the last round is that
    amplitude at the die's longest width (a slow device that a short pulse could not switch
    is not stuck).

    Raises:
        InvalidRequest: the first pulse lies outside the die's limits (nothing is applied).
    """
    pulse = check_write_pulse(layout, pulse)
    lim = layout.limits
    if rounds <= 1:
        return [pulse]
    top = max(lim.max_pulse_amplitude, pulse.amplitude)
    ramp = np.linspace(pulse.amplitude, top, rounds - 1) if rounds > 2 else [pulse.amplitude]
    plan = [Pulse(float(a), pulse.width) for a in ramp]
    return [*plan, Pulse(float(top), max(lim.max_pulse_width, pulse.width))]


def write_weights(
    chip: Chip,
    array: int,
    bits: np.ndarray,
    *,
    selected: np.ndarray | None = None,
    pulse: Pulse | None = None,
    max_rounds: int = 5,
    escalation_step: float = 0.05,
    read_voltage: float = DEFAULT_READ_VOLTAGE,
    threshold: float | np.ndarray | None = None,
    known_conductance: np.ndarray | None = None,
    pulse_all: bool = False,
    plan: list[Pulse] | None = None,
) -> WriteReport:
    """Program a bit pattern into ``array`` and verify it by reading back.

    Each round pulses only the cells that read wrong (towards P where the bit is 1, towards
    AP where it is 0), then reads the whole array once. After the first round the amplitude
    grows by ``escalation_step`` per round, up to the die's maximum. Cells still wrong after
    ``max_rounds`` are given up and reported as residual errors. A NaN reading (one the
    instrument could not make) leaves its cell unverified: it is pulsed towards its target
    like a wrong one, and reported residual if it never reads.

    Args:
        bits: target pattern, shape ``(rows, cols)``, bool or 0/1 integers (1 = P).
        selected: optional boolean mask of the cells to write (default: all).
        pulse: first-round pulse (default: the die's nominal pulse).
        threshold: conductance (S) separating P from AP: one value for the array, or one
            per device, shape ``(rows, cols)``, e.g. each device's midpoint between its
            measured P and AP levels (on a die whose levels spread wider than its
            contrast, one value misjudges many devices, and the verify pulses the wrong
            ones and gives up on right ones). Default: the layout's nominal midpoint.
        known_conductance: the array's conductance map (S) if the caller has just read it;
            saves the read that otherwise starts the write.
        pulse_all: each round pulses every selected cell of a target state that still has a
            wrong cell, not only the wrong cells: one pulse per state instead of many small
            ones (a pulse towards the state a device is already in does nothing). Suits
            uniform patterns on instruments where each pulse costs a transaction.
        plan: the pulse of every round, given outright (e.g. :func:`full_range_plan`); each
            is checked against the die's limits before the first pulse. Overrides
            ``pulse``, ``max_rounds`` and ``escalation_step``.

    Raises:
        InvalidRequest: wrong shape or values of ``bits``/``selected``/``threshold``, a
            ``read_voltage`` below 1 uV or above the die's largest read voltage,
            ``max_rounds`` not a whole number 1..:data:`MAX_ROUNDS`, or a pulse plan outside
            the die's limits; raised before any pulse is applied.
    """
    layout = chip.layout
    shape = (layout.rows, layout.cols)
    target = _as_bits(bits, shape, "bits")
    sel = np.ones(shape, bool) if selected is None else _as_mask(selected, shape)
    if not is_whole(max_rounds) or not 1 <= max_rounds <= MAX_ROUNDS:
        raise InvalidRequest(
            f"max_rounds must be a whole number 1..{MAX_ROUNDS}, got {max_rounds!r}"
        )
    # the verify reads' voltage, before the first pulse (the chip would refuse it only at
    # the first read, with the cells already written)
    check_read_voltage("read_voltage", read_voltage, layout.limits.max_read_voltage)
    if plan is None:
        plan = pulse_plan(layout, pulse, max_rounds, escalation_step)
    else:
        plan = list(plan)
        if not plan:
            raise InvalidRequest("plan holds no pulse")
        for p in plan:
            pulse_plan(layout, p, 1, 0.0)
    thr = layout.threshold_g if threshold is None else _as_threshold(threshold, shape)

    start = time.perf_counter()
    if known_conductance is None:
        g = conductance_map(chip, array, read_voltage)[0]
    else:
        g = _as_map(known_conductance, shape)
    wrong = sel & _not_verified(g, thr, target)
    report = WriteReport(
        array, target, sel, 0, 0, wrong, initial_errors=int(wrong.sum()), conductance=g
    )
    # per target state: its cells, and (pulse_all) the selected ones pulsed together
    groups = [(CellState.P, target), (CellState.AP, ~target)]
    groups = [(state, want, sel & want, int((sel & want).sum())) for state, want in groups]
    for plan_pulse in plan:
        if not wrong.any():
            break
        for cell_state, want, whole, n_whole in groups:
            cells = wrong & want
            if cells.any():
                if pulse_all:
                    chip.program(array, whole, cell_state, plan_pulse)
                    report.pulses += n_whole
                else:
                    chip.program(array, cells, cell_state, plan_pulse)
                    report.pulses += int(cells.sum())
        report.rounds += 1
        report.amplitudes.append(plan_pulse.amplitude)
        g = conductance_map(chip, array, read_voltage)[0]
        wrong = sel & _not_verified(g, thr, target)
        report.conductance = g
    report.residual = wrong
    report.elapsed = time.perf_counter() - start
    return report


def _not_verified(g: np.ndarray, thr: float | np.ndarray, target: np.ndarray) -> np.ndarray:
    """Cells whose reading (S) is on the wrong side of the verify threshold, or is NaN (a
    reading the instrument could not make: the state is unknown, so the cell is written
    again and, if it never reads, reported among the residual errors)."""
    return ((g > thr) != target) | np.isnan(g)


def _as_threshold(values: float | np.ndarray, shape: tuple[int, int]) -> float | np.ndarray:
    """A verify threshold (S): one positive finite value, or one per device of ``shape``."""
    arr = _as_floats(values, "threshold")
    if arr.shape not in ((), shape):
        raise InvalidRequest(f"threshold has shape {arr.shape}; expected one value or {shape}")
    if not (np.isfinite(arr).all() and (arr > 0).all()):
        raise InvalidRequest("threshold must be a positive, finite conductance (S) per device")
    return float(arr) if arr.ndim == 0 else arr


def _as_floats(values: object, name: str) -> np.ndarray:
    """``values`` as a float array; text, objects and complex numbers are refused."""
    arr = np.asarray(values)
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        raise InvalidRequest(f"{name} must hold numbers (S), got dtype {arr.dtype}")
    return arr.astype(float)


def _as_map(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    arr = _as_floats(values, "known conductance map")
    if arr.shape != shape:
        raise InvalidRequest(f"known conductance map has shape {arr.shape}; expected {shape}")
    return arr


def _as_mask(values: np.ndarray, shape: tuple[int, int]) -> np.ndarray:
    arr = np.asarray(values)
    if arr.dtype != bool or arr.shape != shape:
        raise InvalidRequest(
            f"selection must be a boolean mask of shape {shape}, got {arr.dtype} {arr.shape}"
        )
    return arr


def _as_bits(values: np.ndarray, shape: tuple[int, int], name: str) -> np.ndarray:
    arr = np.asarray(values)
    if arr.shape != shape:
        raise InvalidRequest(f"{name} has shape {arr.shape}; expected {shape}")
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.integer) or not np.isin(arr, (0, 1)).all():
        raise InvalidRequest(f"{name} must be booleans or 0/1 integers (1 = P, low resistance)")
    return arr.astype(bool)
