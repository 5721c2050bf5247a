"""A run's timeline in its run file: when each array was flushed, and the warnings logged
while it ran, so a viewer of the file (``mtj-hil view``) can show time, the time left and
the warnings without talking to the measuring process.

Layout under ``/timeline`` (provenance, not measured data):

- ``arrays`` (n, 3) float64: array index, wall-clock time of its flush (s since the Unix
  epoch), and the virtual lab's modelled time (s since the station opened; NaN off the
  virtual lab). One self-contained row per array, appended right after the array is
  flushed, so a row lost to a kill never misaligns the others.
- ``events`` (m,) UTF-8 strings: one JSON object per warning logged under ``mtj_hil``
  (instruments, station, classifier, ...): ``t`` (s since the epoch), ``level``, ``source``
  (logger name), ``text``. Both are written through the run file's journal like any data.
"""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import h5py
import numpy as np

from mtj_hil.protocols.sinks import ProgressCallback
from mtj_hil.runs.store.sink import RunSink

ARRAYS = "timeline/arrays"
EVENTS = "timeline/events"
_OWNERS: set[int] = set()
"""Threads writing a run with a timeline now (a warning from one goes to its own run only)."""


def lab_time(chip: Any) -> float:
    """The virtual lab's modelled time (s) of ``chip``, NaN for any other chip."""
    lab = getattr(chip, "lab", None)
    now = getattr(getattr(lab, "clock", None), "now", None)
    return float(now) if isinstance(now, int | float) else math.nan


class _Events(logging.Handler):
    """Warnings logged under ``mtj_hil`` go to the run file: at once from the writing
    thread, at the next array boundary from any other (h5py calls stay on one thread),
    except from a thread that writes another run."""

    def __init__(self, sink: RunSink) -> None:
        super().__init__(logging.WARNING)
        self.sink = sink
        self.owner = threading.get_ident()
        self.pending: list[str] = []
        self.rows_lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        if record.thread != self.owner and record.thread in _OWNERS:
            return  # another run's thread (tasks side by side in one process): its own file
        try:
            text = json.dumps(
                {
                    "t": record.created,
                    "level": record.levelname,
                    "source": record.name,
                    "text": record.getMessage(),
                }
            )
        except Exception:  # a message that does not format is not worth a failed run
            return
        with self.rows_lock:
            self.pending.append(text)
        if threading.get_ident() == self.owner:
            self.drain()

    def drain(self) -> None:
        with self.rows_lock:
            rows, self.pending = self.pending, []
        run = self.sink.run
        if not rows or not run.writable or not run.h5.id.valid:
            return
        run.append(
            EVENTS,
            np.array(rows, dtype=h5py.string_dtype()),
            "",
            "warnings logged while the run went on (JSON per row)",
        )
        run.flush()


@contextmanager
def timeline(
    sink: RunSink, chip: Any, progress: ProgressCallback | None
) -> Iterator[ProgressCallback]:
    """Record the run's timeline (see the module docstring) while the block runs; yields
    the progress callback to hand the procedure (it records each array, then calls
    ``progress``)."""
    events = _Events(sink)
    logger = logging.getLogger("mtj_hil")
    logger.addHandler(events)
    _OWNERS.add(events.owner)

    def record(done: int, total: int, array: int) -> None:
        row = np.array([[array, time.time(), lab_time(chip)]], dtype=np.float64)
        sink.run.append(ARRAYS, row, "1, s, s", "array, flush time (epoch s), lab time (s)")
        sink.run.flush()
        events.drain()
        if progress is not None:
            progress(done, total, array)

    try:
        yield record
    finally:
        logger.removeHandler(events)
        _OWNERS.discard(events.owner)
        events.drain()


def chip_clock(chip: Any) -> tuple[Callable[[], float], str]:
    """The clock a run on ``chip`` times its arrays by (s) and its name: the chip's own
    (``chip.clock``, e.g. a simulated die's clock, on which its drift and telegraph noise
    run), else the virtual lab's modelled clock, else monotonic wall time."""
    if isinstance(getattr(chip, "clock", None), int | float):
        return (lambda: float(chip.clock)), f"{type(chip).__name__}.clock"
    if math.isfinite(lab_time(chip)):
        return (lambda: lab_time(chip)), "virtual lab modelled clock"
    return time.monotonic, "wall clock (monotonic)"
