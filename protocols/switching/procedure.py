"""Switching characterisation: P(switch) against pulse amplitude and width, read disturb and
pulsed R-V loops, measured on whole arrays in parallel.

One *trial* at a grid point (direction, width, amplitude): write the start state (the
opposite of the direction) to the whole array with write-verify, apply one pulse of the
point's amplitude and width towards the direction, read the array. Devices whose start state
did not verify do not count that trial. Counts per device and point are kept, so fits can be
made per device and per array (:mod:`mtj_hil.protocols.switching.fit`).

Adaptive placement (``SwitchingPlan.adaptive``): amplitudes are visited in ascending order
per width and direction. Each point first gets ``probe_trials`` trials; the full ``trials``
are spent only where at least ``min_active`` of the devices showed an intermediate outcome
(switched in some probe trials, not all). A sweep stops once, at two consecutive points,
essentially every device that has switched at that width switched in every trial.

Results go to a :class:`SwitchingSink` array by array, so an interrupted run resumes where
it stopped. Nothing here knows instruments: the grid is checked against the die's limits
(``layout.limits``) before the first pulse.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

import numpy as np

from mtj_hil.errors import apart
from mtj_hil.protocols.chip import (
    CellState,
    Chip,
    Layout,
    Pulse,
    check_array,
    check_write_pulse,
)
from mtj_hil.protocols.errors import (
    InvalidRequest,
    SettingOutsideLimits,
    SettingRefused,
    refused_setting,
)
from mtj_hil.protocols.plan_values import check_plan_types, make_plain
from mtj_hil.protocols.read import DEFAULT_READ_VOLTAGE, check_read_voltage, conductance_map
from mtj_hil.protocols.resolution import settable_volts
from mtj_hil.protocols.sinks import MemoryArrays, ProgressCallback, measure_missing
from mtj_hil.protocols.switching.decision import (
    DEFAULT_BOUND,
    DEFAULT_EXCLUDE,
    PRECISION_MARGIN,
)
from mtj_hil.protocols.switching.placed import placed_rows
from mtj_hil.protocols.switching.plan_limits import (  # the limits are importable from here
    MAX_DISTURB_READS as MAX_DISTURB_READS,
)
from mtj_hil.protocols.switching.plan_limits import MAX_LOOP_STEPS as MAX_LOOP_STEPS
from mtj_hil.protocols.switching.plan_limits import MAX_TARGET_WER as MAX_TARGET_WER
from mtj_hil.protocols.switching.plan_limits import MAX_TAU0 as MAX_TAU0
from mtj_hil.protocols.switching.plan_limits import MAX_TRIALS as MAX_TRIALS
from mtj_hil.protocols.switching.plan_limits import MAX_VERIFY_ROUNDS as MAX_VERIFY_ROUNDS
from mtj_hil.protocols.switching.plan_limits import PLACEMENTS as PLACEMENTS
from mtj_hil.protocols.switching.plan_limits import check_counts
from mtj_hil.protocols.switching.settable import refuse_unsettable_plan
from mtj_hil.protocols.switching.trials import Trials

DEFAULT_AMPLITUDE_STEP = 0.025
"""Spacing (V) of the default amplitude grid."""


@dataclass(frozen=True)
class SwitchingPlan:
    """What to measure.

    Attributes:
        arrays: arrays to measure, in order.
        amplitudes: pulse amplitudes (V, magnitudes), visited in ascending order.
        widths: pulse widths (s).
        trials: trials per point (full budget).
        probe_trials: trials first spent at each point when ``adaptive``.
        adaptive: spend the full budget only where devices are in their transition.
        min_active: fraction of devices with an intermediate probe outcome that earns a point
            its full budget.
        read_voltage: read voltage (V) of the state reads.
        set_pulse: pulse that writes the start state (default: the die's nominal pulse).
        verify_rounds: write-verify rounds for the start state.
        floor_trials: trials at the last amplitude of each sweep, set aside to measure the
            write-error floor without the bias the adaptive stopping rule would give it
            (0 = none).
        disturb_reads: reads per device at ``disturb_voltage`` per start state (0 = skip).
        disturb_voltage: read-disturb voltage (V); default the die's largest read voltage.
        loop_devices: ``(array, row, col)`` of devices to trace pulsed R-V loops on.
        loop_steps: amplitude steps per ramp (up, then down) of an R-V loop.
        loop_width: pulse width of the R-V loops (s); default the nominal width.
        tau0: attempt time (s) the fits assume (thermal activation cannot separate it from
            Delta, see :mod:`mtj_hil.protocols.switching.fit`).
        target_wer: write-error rate a recommended pulse must reach.
        decision_bound: misread probability per cell and read the trials' state reads may
            have where the chip can make them decisions at a shorter integration
            (:mod:`mtj_hil.protocols.switching.decision`); 0: precision reads throughout.
        decision_exclude: largest share (0..1) of an array's cells the decision rule may leave
            out when no candidate integration reads them within ``decision_bound`` (on the
            wrong side of the threshold or too close to it): they then count as not
            measurable in every trial, like devices that do not verify, and the rule names
            them; with more such cells the array keeps precision reads. 0: decisions for
            every cell or for none.
        precision_margin: where no integration reads enough cells within
            ``decision_bound``, cells whose margin is below this many standard deviations of
            one read are left out the same way (misread often enough to bias their fits):
            by decisions at the shortest integration losing at most ``decision_exclude``
            more cells than precision reads, else by precision reads; 0: none, precision
            reads.
        skip_unresponsive: devices the first write towards a start state cannot verify
            (stuck, shorted, open) are not verified again by later writes towards it (they
            count invalid throughout), so they no longer force every verify round.
        placement: ``"grid"``: the amplitude sweeps above (``adaptive`` or not);
            ``"information"``: each batch of trials goes where it tells most about the
            devices' Vc0 and Delta, and a direction stops at its stated precision
            (:mod:`mtj_hil.protocols.switching.placed`).
        target_vc: relative 90 % interval half-width of Vc0 a device needs (placement).
        target_delta: relative 90 % interval half-width of Delta a device needs.
        done_fraction: fraction of the fitted devices that must reach both targets before
            a direction of an array stops (placement).
        placement_batch: trials per placed point.
        placement_budget: most trials per array and direction before the floor trials
            (placement; the direction stops there even short of its precision).
    """

    arrays: tuple[int, ...]
    amplitudes: tuple[float, ...]
    widths: tuple[float, ...]
    trials: int = 16
    probe_trials: int = 4
    adaptive: bool = True
    min_active: float = 0.01
    read_voltage: float = DEFAULT_READ_VOLTAGE
    set_pulse: Pulse | None = None
    verify_rounds: int = 3
    disturb_reads: int = 2000
    disturb_voltage: float | None = None
    floor_trials: int = 64
    loop_devices: tuple[tuple[int, int, int], ...] = ()
    loop_steps: int = 12
    loop_width: float | None = None
    tau0: float = 1e-9
    target_wer: float = 1e-6
    decision_bound: float = DEFAULT_BOUND
    decision_exclude: float = DEFAULT_EXCLUDE
    precision_margin: float = PRECISION_MARGIN
    skip_unresponsive: bool = True
    placement: str = "grid"
    target_vc: float = 0.012
    target_delta: float = 0.10
    done_fraction: float = 0.8
    placement_batch: int = 8
    placement_budget: int = 640

    def __post_init__(self) -> None:
        make_plain(self)  # numpy values as the Python ones a run file stores


def default_amplitudes(layout: Layout, step: float = DEFAULT_AMPLITUDE_STEP) -> tuple[float, ...]:
    """An amplitude grid (V) from 40 % of the nominal amplitude up to the die's maximum."""
    lim = layout.limits
    lo = max(lim.min_pulse_amplitude, 0.4 * layout.nominal_pulse.amplitude)
    n = int(np.floor((lim.max_pulse_amplitude - lo) / step + 1e-9)) + 1
    return tuple(round(lo + k * step, 6) for k in range(n))


def default_widths(layout: Layout) -> tuple[float, ...]:
    """Three decades of width (s) ending at the nominal width, clipped to the limits."""
    lim = layout.limits
    w0 = layout.nominal_pulse.width
    ws = [min(max(w0 * 10.0**-k, lim.min_pulse_width), lim.max_pulse_width) for k in (2, 1, 0)]
    return tuple(dict.fromkeys(ws))


def check_plan(layout: Layout, plan: SwitchingPlan) -> None:
    """Refuse a plan the die cannot take, naming the offending point (nothing is applied).

    Raises:
        SettingRefused (an ``InvalidRequest``): an amplitude, width or read voltage outside
            the die's limits, a set pulse (default: the nominal pulse) outside them, an
            array not on the die, or counts out of range (:data:`MAX_TRIALS`,
            :data:`MAX_DISTURB_READS`); its ``setting`` names the plan's field refused
            (``"set_pulse"`` also when the default, the die's nominal pulse, is refused).
    """
    lim = layout.limits
    check_plan_types(plan)
    if not plan.arrays:
        raise SettingRefused("arrays", "the switching plan names no arrays")
    _as_setting("arrays", lambda: [check_array(layout, a) for a in plan.arrays])
    if len(set(plan.arrays)) != len(plan.arrays):
        raise SettingRefused("arrays", f"the switching plan lists an array twice: {plan.arrays}")
    if not plan.amplitudes or not plan.widths:
        raise SettingRefused(
            "amplitudes" if not plan.amplitudes else "widths",
            "the switching plan needs at least one amplitude and one width",
        )
    for amp in plan.amplitudes:
        if not lim.min_pulse_amplitude <= amp <= lim.max_pulse_amplitude:
            value, lo, hi = apart(amp, lim.min_pulse_amplitude, lim.max_pulse_amplitude)
            raise SettingOutsideLimits(
                "amplitudes",
                f"grid point amplitude {value} V lies outside the safety envelope "
                f"({lo}..{hi} V); nothing applied",
            )
    widths = [("widths", w) for w in plan.widths]
    loop = [("loop_width", plan.loop_width)] if plan.loop_width is not None else []
    for name, width in widths + loop:
        if not lim.min_pulse_width <= width <= lim.max_pulse_width:
            value, lo, hi = apart(width, lim.min_pulse_width, lim.max_pulse_width)
            raise SettingOutsideLimits(
                name,
                f"{'R-V loop' if name == 'loop_width' else 'grid point'} width {value} s lies "
                "outside the safety envelope "
                f"({lo}..{hi} s); nothing applied",
            )
    _as_setting("set_pulse", lambda: check_write_pulse(layout, plan.set_pulse, "set pulse"))
    refuse_unsettable_plan(lim, plan)
    check_read_voltage("read_voltage", plan.read_voltage, lim.max_read_voltage)
    v_dist = disturb_voltage(layout, plan)
    if not 0 < v_dist <= lim.max_read_voltage:
        value, hi = apart(v_dist, lim.max_read_voltage)
        raise SettingOutsideLimits(
            "disturb_voltage",
            f"read-disturb voltage {value} V lies outside 0..{hi} V",
        )
    check_counts(plan)
    for dev in plan.loop_devices:
        a, r, c = dev
        _as_setting("loop_devices", lambda a=a: check_array(layout, a))
        if a not in plan.arrays:
            raise SettingRefused(
                "loop_devices",
                f"R-V loop device {a}:{r}:{c} is on array {a}, which the plan does not measure "
                "(loops are measured with their array): add the array or leave the device out",
            )
        if not (0 <= r < layout.rows and 0 <= c < layout.cols):
            raise SettingRefused("loop_devices", f"R-V loop device {dev} is not on the die")


def _as_setting(setting: str, check: Callable[[], object]) -> None:
    """Run a shared check, naming ``setting`` on the ``InvalidRequest`` it raises."""
    try:
        check()
    except SettingRefused:
        raise
    except InvalidRequest as exc:
        raise refused_setting(setting, exc) from None


def disturb_voltage(layout: Layout, plan: SwitchingPlan) -> float:
    """The read-disturb voltage (V) of a plan."""
    given = plan.disturb_voltage
    return layout.limits.max_read_voltage if given is None else given


@dataclass
class ArraySwitching:
    """Everything measured on one array.

    Attributes:
        direction: target state of each point's pulse (``CellState`` values), ``(n,)``.
        width: pulse width of each point (s), ``(n,)``.
        amplitude: pulse amplitude of each point (V), ``(n,)``.
        trials: valid trials per point and device, ``(n, rows, cols)``.
        switched: trials in which the device switched, ``(n, rows, cols)``.
        floor_point: True for the points set aside for the write-error floor, ``(n,)``.
        disturb_flips: per start state (0 = P, 1 = AP), devices that flipped during the
            read-disturb reads, ``(2, rows, cols)`` bool.
        disturb_valid: devices whose start state verified, ``(2, rows, cols)`` bool.
        loop_cells: ``(m, 2)`` row, col of the R-V loop devices of this array.
        loop_voltage: signed pulse amplitude of each loop step (V; + towards AP), ``(s,)``.
        loop_g: conductance read after each loop step (S), ``(m, s)``.
        decision: the decision-read rule chosen for the array (integration s, noise A,
            worst margin A, misread probability, bound), empty for precision reads (kept in
            memory and as attributes of the run file's ``switching/decision/<array>``).
    """

    direction: np.ndarray
    width: np.ndarray
    amplitude: np.ndarray
    trials: np.ndarray
    switched: np.ndarray
    floor_point: np.ndarray
    disturb_flips: np.ndarray
    disturb_valid: np.ndarray
    loop_cells: np.ndarray = field(default_factory=lambda: np.zeros((0, 2), np.int32))
    loop_voltage: np.ndarray = field(default_factory=lambda: np.zeros(0))
    loop_g: np.ndarray = field(default_factory=lambda: np.zeros((0, 0)))
    decision: dict[str, Any] = field(default_factory=dict)


class SwitchingSink(Protocol):
    """Where a switching characterisation keeps its results (a run file, or memory)."""

    def completed_arrays(self) -> list[int]:
        """Arrays already stored."""
        ...

    def save_array(self, array: int, data: ArraySwitching) -> None:
        """Store (and make durable) one finished array."""
        ...

    def load_arrays(self, arrays: Iterable[int]) -> dict[int, ArraySwitching]:
        """Stored data of the given arrays."""
        ...


class MemorySwitchingSink(MemoryArrays[ArraySwitching]):
    """A sink in memory (tests, library use)."""


def measure_switching_die(
    chip: Chip,
    sink: SwitchingSink,
    plan: SwitchingPlan,
    progress: ProgressCallback | None = None,
) -> dict[int, ArraySwitching]:
    """Measure every planned array not yet in ``sink``; return the data of all of them.

    Raises:
        InvalidRequest: the plan reaches outside the die's limits (before any pulse).
    """
    layout = chip.layout
    check_plan(layout, plan)
    arrays = [int(a) for a in plan.arrays]
    measure_missing(
        arrays, sink, lambda array: measure_array(chip, array, plan), progress, "switching"
    )
    return sink.load_arrays(arrays)


def measure_array(chip: Chip, array: int, plan: SwitchingPlan) -> ArraySwitching:
    """Switching grid, read disturb and R-V loops of one array (see the module docstring)."""
    check_plan(chip.layout, plan)
    runner = Trials(chip, array, plan)
    decision = runner.choose_decisions()
    rows: list[tuple[int, float, float, np.ndarray, np.ndarray, bool]] = []
    amplitudes = sorted(plan.amplitudes)
    if plan.placement == "information":
        for direction in (CellState.AP, CellState.P):
            rows += placed_rows(runner, plan, direction)
    for width in plan.widths if plan.placement == "grid" else ():
        for direction in (CellState.AP, CellState.P):
            ever = np.zeros(runner.shape, bool)
            saturated_run = 0
            for amp in amplitudes:
                pulse = Pulse(float(amp), float(width))
                first = plan.probe_trials if plan.adaptive else plan.trials
                trials, switched = runner.run(direction, pulse, first)
                if plan.adaptive and first < plan.trials:
                    active = (switched > 0) & (switched < trials)
                    if active.mean() >= plan.min_active:
                        more_t, more_s = runner.run(direction, pulse, plan.trials - first)
                        trials += more_t
                        switched += more_s
                rows.append((int(direction), float(width), float(amp), trials, switched, False))
                ever |= switched > 0
                always = (switched == trials) & (trials > 0)
                valid = trials > 0
                if plan.adaptive and ever.sum() >= 0.5 * max(valid.sum(), 1):
                    full = always[ever].mean() >= 0.995
                    saturated_run = saturated_run + 1 if full else 0
                    if saturated_run >= 2:
                        break
            if plan.floor_trials:
                pulse = Pulse(float(rows[-1][2]), float(width))
                trials, switched = runner.run(direction, pulse, plan.floor_trials)
                rows.append((int(direction), float(width), pulse.amplitude, trials, switched, True))
    flips, valid = _read_disturb(runner, plan)
    cells, volts, loop_g = _rv_loops(chip, runner, array, plan)
    return ArraySwitching(
        direction=np.array([r[0] for r in rows], np.uint8),
        width=np.array([r[1] for r in rows]),
        amplitude=np.array([r[2] for r in rows]),
        trials=np.stack([r[3] for r in rows]).astype(np.uint16),
        switched=np.stack([r[4] for r in rows]).astype(np.uint16),
        floor_point=np.array([r[5] for r in rows], bool),
        disturb_flips=flips,
        disturb_valid=valid,
        loop_cells=cells,
        loop_voltage=volts,
        loop_g=loop_g,
        decision={} if decision is None else asdict(decision),
    )


def _read_disturb(runner: Trials, plan: SwitchingPlan) -> tuple[np.ndarray, np.ndarray]:
    """Write P (then AP), read every device ``disturb_reads`` times at the disturb voltage,
    and mark the devices that changed state."""
    flips = np.zeros((2, *runner.shape), bool)
    valid = np.zeros((2, *runner.shape), bool)
    if plan.disturb_reads == 0:
        return flips, valid
    v = disturb_voltage(runner.chip.layout, plan)
    for k, state in enumerate((CellState.P, CellState.AP)):
        valid[k], flips[k] = runner.disturb(state, v, plan.disturb_reads)
    return flips, valid


def _rv_loops(
    chip: Chip, runner: Trials, array: int, plan: SwitchingPlan
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pulsed R-V loops of this array's selected devices, all at once: start in P, ramp the
    amplitude towards AP up and down, then towards P up and down, reading after each pulse."""
    cells = np.array([(r, c) for a, r, c in plan.loop_devices if a == array], np.int32)
    cells = cells.reshape(-1, 2)
    if cells.size == 0:
        return cells, np.zeros(0), np.zeros((0, 0))
    lim = chip.layout.limits
    width = chip.layout.nominal_pulse.width if plan.loop_width is None else plan.loop_width
    ramp = np.linspace(lim.min_pulse_amplitude, lim.max_pulse_amplitude, plan.loop_steps)
    ramp = np.array([settable_volts(v, lim) for v in ramp])  # as the bench sets them
    updown = np.concatenate([ramp, ramp[-2::-1]])
    volts = np.concatenate([updown, -updown])
    runner.set_all(CellState.P)
    g = np.empty((cells.shape[0], volts.size))
    for k, v in enumerate(volts):
        state = CellState.AP if v > 0 else CellState.P
        chip.program(array, cells, state, Pulse(float(abs(v)), float(width)))
        gm = conductance_map(chip, array, plan.read_voltage)[0]
        runner.known = gm
        g[:, k] = gm[cells[:, 0], cells[:, 1]]
    return cells, volts, g
