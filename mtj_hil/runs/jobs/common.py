"""What every job shares: opening its run file (create or resume) and recording how the job
ended in the run's status."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

from mtj_hil.errors import StoreError
from mtj_hil.instruments.bus.signals import StopSignal
from mtj_hil.instruments.errors import InstrumentError, UnsafeShutdown
from mtj_hil.protocols.chip import Chip
from mtj_hil.runs.store.sink import RunSink

S = TypeVar("S", bound=RunSink)
log = logging.getLogger(__name__)


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
        return sink_type.resume(out, die_id, station=chip.describe(), operator=operator)
    return sink_type.create(
        out,
        plan=plan,
        layout=chip.layout.as_dict(),
        die_id=die_id,
        seed=seed,
        station=chip.describe(),
        operator=operator,
    )


def default_run_path(kind: str, die_id: str) -> Path:
    """``runs/<kind>-<die>-<time>.h5`` (relative to the working folder), the die label
    reduced to file-name characters: where a run goes when no output is named."""
    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = "".join(c if c.isalnum() or c in "-_." else "-" for c in die_id)
    return Path("runs") / f"{kind}-{safe}-{stamp}.h5"


@contextmanager
def recorded_status(sink: RunSink) -> Iterator[None]:
    """Record how the job inside ends in the run's ``status``, then close the run file.

    ``completed`` when the block finishes; ``aborted`` (resumable) for Ctrl-C, a stop
    signal or an instrument error; ``failed`` for any other exception (see :func:`_ending`:
    a block that finished but left the bench unconfirmed is ``completed``, with the reason).
    Exceptions propagate unchanged: when the run file itself cannot be written (a full
    disk), the status is left as the last commit recorded it and the :class:`StoreError`
    naming the file and the cause is what propagates, never masked by a second failure
    while closing.
    """
    finished = False
    try:
        yield
        sink.run.set_status("completed")
        finished = True
    except BaseException as exc:
        status, reason = _ending(exc)
        try:
            sink.run.set_status(status, reason)
        except StoreError as store:
            if not isinstance(exc, StoreError):
                log.warning("could not record the run's status %r: %s", status, store)
        raise
    finally:
        try:
            sink.close()
        except StoreError:
            if finished:
                raise


def _ending(exc: BaseException) -> tuple[str, str]:
    """The status and reason recorded for a job that ended with ``exc``, with the notes it
    carries (e.g. a shutdown after Ctrl-C that could not confirm the bench safe).

    A job whose work finished but whose chip could not be confirmed safe at its shutdown
    (:class:`UnsafeShutdown` following nothing) is ``completed``, the reason saying why the
    bench needs a look."""
    notes = "".join(f"; {note}" for note in getattr(exc, "__notes__", ()))
    if isinstance(exc, UnsafeShutdown) and exc.during is None:
        return "completed", f"{exc}{notes}"
    if isinstance(exc, StopSignal) and exc.name != "SIGINT":
        return "aborted", f"stopped by {exc.name}{notes}"
    if isinstance(exc, KeyboardInterrupt):
        return "aborted", f"interrupted by the operator (Ctrl-C){notes}"
    if isinstance(exc, InstrumentError):
        return "aborted", f"instrument error: {exc}{notes}"
    return "failed", f"{type(exc).__name__}: {exc}{notes}"
