"""Measuring a die from Python: characterisation and switching into run files, with the
plan defaults the ``mtj-hil characterize`` and ``mtj-hil switching`` commands use (the
plan dataclasses' own), and the :class:`Run` they leave behind."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from mtj_hil.api.dies import Die
from mtj_hil.errors import StoreError
from mtj_hil.protocols.characterize.plan import CharacterizationPlan
from mtj_hil.protocols.chip import Pulse
from mtj_hil.protocols.sinks import ProgressCallback
from mtj_hil.protocols.switching.procedure import SwitchingPlan

if TYPE_CHECKING:
    import pandas as pd
    import xarray as xr

CHARACTERIZATION = CharacterizationPlan()
"""The characterisation plan's defaults: the parameters of :func:`characterize` (and the
options of ``mtj-hil characterize``) take theirs from it."""
SWITCHING = SwitchingPlan(arrays=(), amplitudes=(), widths=())
"""The switching plan's defaults: the parameters of :func:`measure_switching` (and the
options of ``mtj-hil switching``) take theirs from it."""


@dataclass(frozen=True)
class Run:
    """A run file and what can be read from it.

    Attributes:
        path: the run file (HDF5, NeXus-readable).
        kind: ``"characterization"``, ``"switching"``, ... (its ``kind`` attribute).
    """

    path: Path
    kind: str

    @property
    def status(self) -> str:
        """``running``, ``completed``, ``aborted`` or ``failed`` (read from the file)."""
        from mtj_hil.labelled.load import run_kind

        return run_kind(self.path)[1]

    def dataset(self) -> xr.Dataset:
        """The run as a labelled ``xarray.Dataset`` (:func:`mtj_hil.load`)."""
        from mtj_hil.labelled.load import load_dataset

        return load_dataset(self.path)

    def defects(self, *, include_good: bool = False) -> pd.DataFrame:
        """The defect table of a characterisation (:func:`mtj_hil.defect_table`).

        Raises:
            StoreError: not a characterisation run. ValueError: not classified yet.
        """
        from mtj_hil.labelled.characterization import defect_table

        return defect_table(self.path, include_good=include_good)

    def load(self) -> Any:
        """The run read back as the store does (:class:`~mtj_hil.runs.store.Characterization`,
        :class:`~mtj_hil.runs.store.switching.Switching`: plain numpy arrays)."""
        return _kind_piece(self, "load")(self.path)

    def report(self, png: str | Path | None = None) -> Path:
        """Draw the run's PNG report (default: beside the run file) and return its path;
        it is drawn aside and renamed into place, so the path never holds half an image."""
        from mtj_hil.fileio.atomic import written_aside

        target = Path(png) if png is not None else self.path.with_suffix(".png")
        with written_aside(target) as tmp:
            _kind_piece(self, "report")(self.load(), tmp)
        return target

    def export(self, fmt: str, out: str | Path | None = None, *, force: bool = False) -> list[Path]:
        """Export as ``"netcdf"``, ``"csv"`` or ``"nexus"`` (``mtj-hil export``)."""
        from mtj_hil.labelled.export import export_run

        return export_run(self.path, fmt, out, force=force)


def _kind_piece(run: Run, piece: str) -> Any:
    from mtj_hil.kinds import file_kind

    kind = file_kind(run.kind)
    if kind is None:
        raise StoreError(f"{run.path} is a {run.kind!r} file, not a measurement run")
    return kind.piece(piece)


def open_run(path: str | Path) -> Run:
    """The run file at ``path`` as a :class:`Run`.

    Raises:
        StoreError: missing, not HDF5 or not an mtj-hil run file (the message names it).
    """
    from mtj_hil.api.results import warn_unverified
    from mtj_hil.labelled.load import run_kind

    run = Run(Path(path), run_kind(path)[0])
    warn_unverified(path)
    return run


def _target(kind: str, die: Die, out: str | Path | None, resume: bool) -> Path:
    """``out``, or the command ``kind``'s default run file (``runs/<kind>-<die>-<time>.h5``,
    the same name ``mtj-hil <kind>`` gives it)."""
    from mtj_hil.runs.jobs.common import default_run_path

    if out is None:
        if resume:
            raise StoreError("resume=True needs out=: the run file to finish")
        return default_run_path(kind, die.die_id)
    target = Path(out)
    if target.exists() and not resume:
        raise StoreError(
            f"{target} already exists; choose another out=, or finish it with resume=True"
        )
    return target


def characterize(
    die: Die,
    out: str | Path | None = None,
    *,
    arrays: Iterable[int] | None = CHARACTERIZATION.arrays,
    cycles: int = CHARACTERIZATION.cycles,
    reads: int = CHARACTERIZATION.reads,
    read_voltage: float = CHARACTERIZATION.read_voltage,
    bias_read_voltage: float | Literal["auto"] | None = CHARACTERIZATION.bias_read_voltage,
    remeasure_cycles: int = CHARACTERIZATION.remeasure_cycles,
    remeasure_budget: float = CHARACTERIZATION.remeasure_budget,
    remeasure_rounds: int = CHARACTERIZATION.remeasure_rounds,
    pulse: Pulse | None = CHARACTERIZATION.pulse,
    resume: bool = False,
    operator: str | None = None,
    progress: ProgressCallback | None = None,
) -> Run:
    """Characterise ``die`` into the run file ``out`` (default
    ``runs/characterize-<die>-<time>.h5``), as ``mtj-hil characterize`` does: every
    array written to P and AP ``cycles`` times with write-verify and read back, each device
    classified (GOOD, SHORT, OPEN, STUCK_P, STUCK_AP or UNCERTAIN) with a confidence.

    Args:
        die: from :func:`simulated_die` or :func:`station_die`.
        out: the run file to write (or, with ``resume``, to finish).
        arrays: arrays to measure (None: all).
        cycles: write-read cycles per state (a device is stuck only if it fails every one).
        reads: reads averaged per state and cycle.
        read_voltage: read voltage (V).
        bias_read_voltage: second read voltage (V) for the bias signature; ``"auto"``: the
            die's largest read voltage when at least twice ``read_voltage``; None: off.
        remeasure_cycles: extra cycles for devices left UNCERTAIN (0: none).
        remeasure_budget: at most this share of the die's devices is re-measured
            (another than the default with ``remeasure_cycles=0`` is refused: it would be
            ignored).
        remeasure_rounds: rounds of re-measurement at most; each later round takes the
            devices the earlier ones left unsettled (another than the default with
            ``remeasure_cycles=0`` is refused: it would be ignored).
        pulse: write pulse (None: the die's nominal pulse, escalated by write-verify).
        resume: finish the interrupted run ``out`` (its stored plan wins).
        operator: who ran it (default: the login name).
        progress: ``progress(done, total, array)`` after every array.

    Returns:
        The finished :class:`Run`; ``run.dataset()`` holds the defect map and resistances.

    Raises:
        InvalidRequest: the plan does not fit the die (no file made, nothing applied).
        StoreError: ``out`` exists (without ``resume``) or cannot be resumed.
        InstrumentError, SafetyViolation: on a station, as the measurement raised them.
    """
    from mtj_hil.runs.jobs.characterization import run_characterization

    target = _target("characterize", die, out, resume)  # the command's name, as its default
    plan = CharacterizationPlan(
        arrays=None if arrays is None else tuple(int(a) for a in arrays),
        cycles=cycles,
        reads=reads,
        read_voltage=read_voltage,
        pulse=pulse,
        remeasure_cycles=remeasure_cycles,
        remeasure_budget=remeasure_budget,
        remeasure_rounds=remeasure_rounds,
        bias_read_voltage=bias_read_voltage,
    )
    with die.open() as chip:
        thresholds = None
        if die.station is not None:
            from mtj_hil.station.connect import calibrated_thresholds

            thresholds = calibrated_thresholds(chip, die.die_id)
        run_characterization(
            chip,
            target,
            die_id=die.die_id,
            plan=plan,
            resume=resume,
            seed=die.seed,
            operator=operator,
            progress=progress,
            thresholds=thresholds,
        )
    return Run(target, "characterization")


def measure_switching(
    die: Die,
    out: str | Path | None = None,
    *,
    arrays: Iterable[int] | None = None,
    amplitudes: Iterable[float] | None = None,
    widths: Iterable[float] | None = None,
    trials: int = SWITCHING.trials,
    probe_trials: int = SWITCHING.probe_trials,
    adaptive: bool = SWITCHING.adaptive,
    floor_trials: int = SWITCHING.floor_trials,
    disturb_reads: int = SWITCHING.disturb_reads,
    loop_devices: Iterable[tuple[int, int, int]] = SWITCHING.loop_devices,
    read_voltage: float = SWITCHING.read_voltage,
    target_wer: float = SWITCHING.target_wer,
    tau0: float = SWITCHING.tau0,
    placement: str = SWITCHING.placement,
    decision_bound: float = SWITCHING.decision_bound,
    decision_exclude: float = SWITCHING.decision_exclude,
    precision_margin: float = SWITCHING.precision_margin,
    target_vc: float = SWITCHING.target_vc,
    target_delta: float = SWITCHING.target_delta,
    done_fraction: float = SWITCHING.done_fraction,
    placement_batch: int = SWITCHING.placement_batch,
    placement_budget: int = SWITCHING.placement_budget,
    resume: bool = False,
    operator: str | None = None,
    progress: ProgressCallback | None = None,
) -> Run:
    """Measure the switching of ``die`` into the run file ``out`` (default
    ``runs/switching-<die>-<time>.h5``), as ``mtj-hil switching`` does: P(switch) per
    device against pulse amplitude and width in both directions, Vc0 and Delta fitted per
    device, the die's write-error rate, a recommended pulse, read disturb and R-V loops.

    Args:
        die: from :func:`simulated_die` or :func:`station_die`.
        out: the run file to write (or, with ``resume``, to finish).
        arrays: arrays to measure (None: all; a whole die takes hours, one array minutes).
        amplitudes: pulse amplitudes (V; None: 40 % of the nominal amplitude up to the
            die's maximum in 25 mV steps).
        widths: pulse widths (s; None: three decades ending at the nominal width).
        trials: trials per grid point (full budget).
        probe_trials: trials first spent at each point when ``adaptive``: at most
            ``trials`` (the default is lowered to a smaller ``trials``; another value
            above it is refused, as is one other than the default with ``adaptive`` off).
        adaptive: spend the full budget only where devices are in their transition.
        floor_trials: trials per sweep set aside to measure the write-error floor.
        disturb_reads: reads per device at the largest read voltage (0: no read disturb).
        loop_devices: ``(array, row, col)`` of devices to trace pulsed R-V loops on.
        read_voltage: read voltage (V) of the state reads (at most the envelope's largest).
        target_wer: write-error rate a recommended pulse must reach.
        tau0: attempt time (s) the fits assume.
        placement: ``"grid"`` (the amplitude sweeps) or ``"information"`` (each batch of
            trials where it tells most about Vc0 and Delta; ``trials`` and ``adaptive``
            then unused and refused if not at their defaults).
        decision_bound: misread probability per cell and read of trial reads where the
            chip can make them decisions (0: precision reads throughout).
        decision_exclude: largest share of an array's cells decision reads may leave out.
        precision_margin: where no integration meets ``decision_bound``, cells below this
            margin (standard deviations of one read) are left out, by decisions held to it
            or by precision reads (0: precision reads, nothing left out).
        target_vc: information placement: relative 90 % half-width of Vc0 a device needs.
        target_delta: information placement: the same for Delta.
        done_fraction: information placement: share of fitted devices that must reach
            both targets before a direction stops.
        placement_batch: information placement: trials per placed point.
        placement_budget: information placement: most trials per array and direction.

            Each as :class:`SwitchingPlan` documents it; a placement setting on the grid
            or a decision setting with ``decision_bound`` 0 is refused unless at its
            default (the plan would not use it).
        resume: finish the interrupted run ``out`` (its stored plan wins).
        operator: who ran it (default: the login name).
        progress: ``progress(done, total, array)`` after every array.

    Returns:
        The finished :class:`Run`; ``run.dataset()`` holds counts, fits and the WER.

    Raises:
        InvalidRequest: the grid reaches outside the die's limits, ``probe_trials``
            does not fit ``trials`` and ``adaptive``, or a setting is unused (nothing
            applied, no file made).
        StoreError: ``out`` exists (without ``resume``) or cannot be resumed.
    """
    from mtj_hil.protocols.switching.procedure import default_amplitudes, default_widths
    from mtj_hil.protocols.switching.settings import probe_trials_for, refuse_unused
    from mtj_hil.runs.jobs.switching import run_switching

    settings = {
        "decision_exclude": decision_exclude,
        "precision_margin": precision_margin,
        "target_vc": target_vc,
        "target_delta": target_delta,
        "done_fraction": done_fraction,
        "placement_batch": placement_batch,
        "placement_budget": placement_budget,
    }
    # a value at its default stands for "not given", as an option left out does
    grid = {"trials": trials, "adaptive": adaptive}
    probe = probe_trials_for(
        trials,
        None if probe_trials == SWITCHING.probe_trials else probe_trials,
        adaptive=adaptive,
        placement=placement,
        given=[k for k, v in grid.items() if v != getattr(SWITCHING, k)],
    )
    given = [k for k, v in settings.items() if v != getattr(SWITCHING, k)]
    refuse_unused(settings, placement=placement, decision_bound=decision_bound, given=given)
    target = _target("switching", die, out, resume)
    with die.open() as chip:
        layout = chip.layout
        plan = SwitchingPlan(
            arrays=tuple(range(layout.n_arrays)) if arrays is None else tuple(arrays),
            amplitudes=default_amplitudes(layout) if amplitudes is None else tuple(amplitudes),
            widths=default_widths(layout) if widths is None else tuple(widths),
            trials=trials,
            probe_trials=probe,
            adaptive=adaptive,
            floor_trials=floor_trials,
            disturb_reads=disturb_reads,
            loop_devices=tuple(tuple(int(x) for x in d) for d in loop_devices),
            read_voltage=read_voltage,
            tau0=tau0,
            target_wer=target_wer,
            placement=placement,
            decision_bound=decision_bound,
            **settings,
        )
        run_switching(
            chip,
            target,
            die_id=die.die_id,
            plan=plan,
            resume=resume,
            seed=die.seed,
            operator=operator,
            progress=progress,
        )
    return Run(target, "switching")
