"""Whole jobs as a technician runs them: a chip, a run file, a report, and the run's status."""

from __future__ import annotations

from pathlib import Path

from mtj_hil.protocols.characterize.plan import (
    CharacterizationPlan,
    check_plan,
    plan_from_record,
    plan_record,
)
from mtj_hil.protocols.characterize.procedure import characterize_die
from mtj_hil.protocols.chip import Chip
from mtj_hil.protocols.defects.detect import DefectMap, Thresholds
from mtj_hil.protocols.sinks import ProgressCallback
from mtj_hil.runs.jobs.common import open_run, recorded_status
from mtj_hil.runs.jobs.timeline import chip_clock, timeline
from mtj_hil.runs.jobs.trust import CheckedSink
from mtj_hil.runs.store.characterization import CharacterizationRun


def run_characterization(
    chip: Chip,
    out: str | Path,
    *,
    die_id: str,
    plan: CharacterizationPlan,
    resume: bool = False,
    seed: int | None = None,
    operator: str | None = None,
    progress: ProgressCallback | None = None,
    thresholds: Thresholds | None = None,
) -> DefectMap:
    """Characterise ``chip`` into the run file ``out`` and return the die's defect map.

    A new file is created, or with ``resume`` an interrupted one of the same die is finished
    (arrays already stored are not measured again). Each array's start and end are recorded
    (``characterization/array_time``, s) on the chip's clock (:func:`chip_clock`). ``thresholds`` (e.g. from a calibration
    of this die) replace the ones derived from the run's own distributions. Whatever happens, the run's status is
    recorded: ``completed``; ``aborted`` for Ctrl-C or an instrument that stopped answering
    (resumable); ``failed`` for any other error. The chip is closed on every exit, before the
    status is recorded: a shutdown that could not confirm the bench safe is in the status
    reason (and raised as ``UnsafeShutdown``).

    The plan is checked against the die (:func:`check_plan`) before the file is created, so
    a refused plan leaves nothing behind; on resume the plan stored in the file wins.

    Raises:
        InvalidRequest: the plan does not fit the die (no file made, nothing applied).
        StoreError: the output exists (without ``resume``), or cannot be resumed.
        and whatever the measurement raised, after recording it in the run file.
    """
    with chip:
        if not resume:
            plan = plan.resolved(chip.layout)
            check_plan(chip.layout, plan)
        sink = open_run(
            CharacterizationRun,
            chip,
            out,
            die_id=die_id,
            resume=resume,
            plan=plan_record(plan),
            seed=seed,
            operator=operator,
        )
        # the chip is closed first (outputs off, board reset) inside the timeline, so what the
        # shutdown confirmed is in the run file with the status
        with recorded_status(sink), timeline(sink, chip, progress) as progress, chip:
            sink.start_clock(*chip_clock(chip))
            if resume and sink.plan:
                plan = plan_from_record(sink.plan)
            return characterize_die(
                chip, CheckedSink(sink, chip), plan, thresholds=thresholds, progress=progress
            )
