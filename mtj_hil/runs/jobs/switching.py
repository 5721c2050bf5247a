"""The switching characterisation as a job: a chip, a run file, fits, and the run's status."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from mtj_hil.protocols.chip import Chip, Pulse
from mtj_hil.protocols.switching.analysis import SwitchingAnalysis, analyse
from mtj_hil.protocols.switching.procedure import (
    ProgressCallback,
    SwitchingPlan,
    check_plan,
    disturb_voltage,
    measure_switching_die,
)
from mtj_hil.runs.jobs.common import open_run, recorded_status
from mtj_hil.runs.jobs.timeline import timeline
from mtj_hil.runs.jobs.trust import CheckedSink
from mtj_hil.runs.store.switching import SwitchingRun


def plan_record(plan: SwitchingPlan) -> dict[str, Any]:
    """The plan as plain JSON-able data (stored in the run file)."""
    rec = asdict(plan)
    rec["set_pulse"] = asdict(plan.set_pulse) if plan.set_pulse else None
    rec["loop_devices"] = [list(d) for d in plan.loop_devices]
    return rec


def plan_from_record(rec: dict[str, Any]) -> SwitchingPlan:
    """Inverse of :func:`plan_record`."""
    rec = dict(rec)
    rec["set_pulse"] = Pulse(**rec["set_pulse"]) if rec.get("set_pulse") else None
    for key in ("arrays", "amplitudes", "widths"):
        rec[key] = tuple(rec[key])
    rec["loop_devices"] = tuple(tuple(int(x) for x in d) for d in rec.get("loop_devices", []))
    rec.setdefault("decision_bound", 0.0)  # runs recorded before decision reads: precision
    rec.setdefault("skip_unresponsive", False)  # ...and verifying every device every time
    rec.setdefault("decision_exclude", 0.0)  # ...and decisions for every cell or for none
    rec.setdefault("precision_margin", 0.0)  # ...and precision reads of every cell
    return SwitchingPlan(**rec)


def run_switching(
    chip: Chip,
    out: str | Path,
    *,
    die_id: str,
    plan: SwitchingPlan,
    resume: bool = False,
    seed: int | None = None,
    operator: str | None = None,
    progress: ProgressCallback | None = None,
) -> SwitchingAnalysis:
    """Measure the switching of ``chip`` into the run file ``out``, fit it, and return the fits.

    A new file is created, or with ``resume`` an interrupted run of the same die is finished
    (arrays already stored are not measured again; the plan stored in the file wins). The
    grid is checked against the die's limits before the first pulse. The run's status is
    recorded on every exit: ``completed``; ``aborted`` for Ctrl-C or an instrument error
    (resumable); ``failed`` otherwise. The chip is closed on every exit, before the status
    is recorded: a shutdown that could not confirm the bench safe is in the status reason
    (and raised as ``UnsafeShutdown``).

    Raises:
        InvalidRequest: the grid reaches outside the envelope (nothing applied, no file made).
        StoreError: the output exists (without ``resume``), or cannot be resumed.
        and whatever the measurement raised, after recording it in the run file.
    """
    with chip:
        if not resume:
            check_plan(chip.layout, plan)
        sink = open_run(
            SwitchingRun,
            chip,
            out,
            die_id=die_id,
            resume=resume,
            plan=plan_record(plan),
            seed=seed,
            operator=operator,
        )
        if resume:
            plan = plan_from_record(sink.plan)
        # the chip is closed first (outputs off, board reset) inside the timeline, so what the
        # shutdown confirmed is in the run file with the status
        with recorded_status(sink), timeline(sink, chip, progress) as progress, chip:
            data = measure_switching_die(chip, CheckedSink(sink, chip), plan, progress)
            arrays = [int(a) for a in plan.arrays]
            analysis = analyse(
                data,
                arrays,
                chip.layout.limits,
                tau0=plan.tau0,
                target_wer=plan.target_wer,
                disturb_reads=plan.disturb_reads,
                disturb_voltage=disturb_voltage(chip.layout, plan),
            )
            sink.save_analysis(analysis)
        return analysis
