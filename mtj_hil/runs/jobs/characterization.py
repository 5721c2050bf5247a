"""Whole jobs as a technician runs them: a chip, a run file, a report, and the run's status."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.runs.store.characterization import CharacterizationRun
from mtj_hil.runs.store.runfile import RunSink
from mtj_hil.protocols.characterize.procedure import CharacterizationPlan, ProgressCallback, characterize_die
from mtj_hil.protocols.chip import Chip, Pulse
from mtj_hil.protocols.defects.detect import DefectMap, Thresholds

S = TypeVar("S", bound=RunSink)


def open_run(
    sink_type: type[S],
    chip: Chip,
    out: str | Path,
    *,
    die_id: str,
    resume: bool,
    plan: dict[str, Any],
    seed: int | None,
    operator: str | None,
) -> S:
    """The run file of a job on ``chip``: reopened to finish it (``resume``), or created
    with the plan record, the chip's layout and station description as provenance.

    Raises:
        StoreError: the file exists (without ``resume``), or cannot be resumed.
    """
    if resume:
        return sink_type.resume(out, die_id)
    return sink_type.create(
        out,
        plan=plan,
        layout=chip.layout.as_dict(),
        die_id=die_id,
        seed=seed,
        station=chip.describe(),
        operator=operator,
    )


@contextmanager
def recorded_status(sink: RunSink) -> Iterator[None]:
    """Record how the job inside ends in the run's ``status``, then close the run file.

    ``completed`` when the block finishes; ``aborted`` (resumable) for Ctrl-C or an
    instrument error; ``failed`` for any other exception. Exceptions propagate unchanged.
    """
    try:
        yield
    except KeyboardInterrupt:
        sink.run.set_status("aborted", "interrupted by the operator (Ctrl-C)")
        raise
    except InstrumentError as exc:
        sink.run.set_status("aborted", f"instrument error: {exc}")
        raise
    except BaseException as exc:
        sink.run.set_status("failed", f"{type(exc).__name__}: {exc}")
        raise
    else:
        sink.run.set_status("completed")
    finally:
        sink.close()


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
    (arrays already stored are not measured again). ``thresholds`` (e.g. from a calibration
    of this die) replace the ones derived from the run's own distributions. Whatever happens, the run's status is
    recorded: ``completed``; ``aborted`` for Ctrl-C or an instrument that stopped answering
    (resumable); ``failed`` for any other error. The chip is closed on every exit.

    Raises:
        StoreError: the output exists (without ``resume``), or cannot be resumed.
        and whatever the measurement raised, after recording it in the run file.
    """
    with chip:
        plan_record = asdict(plan)
        plan_record["pulse"] = asdict(plan.pulse) if plan.pulse else None
        sink = open_run(
            CharacterizationRun,
            chip,
            out,
            die_id=die_id,
            resume=resume,
            plan=plan_record,
            seed=seed,
            operator=operator,
        )
        with recorded_status(sink):
            return characterize_die(
                chip, sink, _stored_plan(sink, plan), thresholds=thresholds, progress=progress
            )


def _stored_plan(sink: CharacterizationRun, plan: CharacterizationPlan) -> CharacterizationPlan:
    """On resume the plan recorded in the file wins, so the finished run is consistent."""
    stored = sink.plan
    if not stored:
        return plan
    pulse = stored.get("pulse")
    return CharacterizationPlan(
        arrays=tuple(stored["arrays"]),
        cycles=int(stored["cycles"]),
        reads=int(stored["reads"]),
        read_voltage=float(stored["read_voltage"]),
        pulse=Pulse(**pulse) if pulse else None,
        remeasure_cycles=int(stored.get("remeasure_cycles", 0)),
        remeasure_budget=float(stored.get("remeasure_budget", 0.01)),
        bias_read_voltage=(
            None if stored.get("bias_read_voltage") is None else float(stored["bias_read_voltage"])
        ),
    )
