"""What every job shares: opening its run file (create or resume) and recording how the job
ended in the run's status."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.protocols.chip import Chip
from mtj_hil.runs.store.runfile import RunSink

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
    except KeyboardInterrupt as exc:
        how = (
            "terminated (SIGTERM)"
            if str(exc) == "SIGTERM"
            else "interrupted by the operator (Ctrl-C)"
        )
        sink.run.set_status("aborted", how)
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
