"""Keeps a stopped campaign's terminal to the lines that matter.

When ``mtj-hil campaign run`` is stopped (Ctrl-C, SIGTERM) the local cluster closes its
workers while tasks still run on them, and each worker's state machine logs, per such task,
``Async instruction for <Task ...> ended with CancelledError`` at WARNING
(``distributed.worker_state_machine``, ``BaseWorker._handle_stimulus_from_task``: "This should
exclusively happen in Worker.close()"). The lines say nothing the stop message does not, and
they bury it. :class:`QuietCancelledAtClose` is a worker plugin that drops exactly those
records in every worker of the local cluster; any other record (a task's error, a worker that
died, other warnings of the same logger) still shows, and a task's own error still reaches
the engine as its result.

Ctrl-C in a terminal reaches the whole process group: each worker process of the local
cluster also took the SIGINT, printed a ``KeyboardInterrupt`` traceback and died under its
nanny, which logged a ``CancelledError`` traceback of its own. The command stops the
campaign and closes the cluster itself, so the plugin has the worker processes ignore
SIGINT (their nanny still ends them on close).

A worker still busy with a task when the command closes the local cluster may send its
heartbeat after the scheduler (in the command's own process) has gone: it logs "Failed to
communicate with scheduler during heartbeat" with a ``CommClosedError`` traceback at ERROR.
The scheduler of a local cluster closes only when the command ends, which it says itself,
so :class:`HeartbeatToClosedScheduler` drops exactly that record in the workers.

In the command's own process, a stop that arrives while ``distributed.utils.sync`` waits
before its coroutine has started makes the cancel callback it schedules read a variable not
yet set: tornado logs that ``NameError`` (``cannot access free variable 'future'``) with a
traceback at ERROR, though nothing was left to cancel. :class:`SyncCancelBeforeStart` drops
exactly that record.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import threading
from typing import Any

from distributed.diagnostics.plugin import WorkerPlugin

__all__ = [
    "STATE_MACHINE_LOGGER",
    "CancelledAtClose",
    "HeartbeatToClosedScheduler",
    "QuietCancelledAtClose",
    "SyncCancelBeforeStart",
    "quiet_sync_cancel",
]

#: the logger of ``distributed.worker_state_machine``
STATE_MACHINE_LOGGER = "distributed.worker.state_machine"

#: the logger of ``distributed.worker`` (its heartbeat)
WORKER_LOGGER = "distributed.worker"


class CancelledAtClose(logging.Filter):
    """Drops the warning that a worker's async instruction ended with ``CancelledError``
    (the cancellation of a task still running when its worker closes); passes the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.WARNING:
            return True
        text = record.getMessage()
        return not (text.startswith("Async instruction for ") and text.endswith(" CancelledError"))


class HeartbeatToClosedScheduler(logging.Filter):
    """Drops a worker's "Failed to communicate with scheduler during heartbeat" error whose
    cause is the scheduler's connection closed (``CommClosedError``); passes the rest."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        closed = exc is not None and type(exc).__name__ == "CommClosedError"
        heartbeat = record.getMessage().startswith("Failed to communicate with scheduler")
        return not (record.levelno == logging.ERROR and heartbeat and closed)


class SyncCancelBeforeStart(logging.Filter):
    """Drops the ``NameError`` that ``distributed.utils.sync``'s ``cancel`` callback raises
    when a stop came before the awaited coroutine started (see the module docstring);
    passes every other record."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        if not isinstance(exc, NameError) or "'future'" not in str(exc):
            return True
        tb = exc.__traceback__
        while tb is not None and tb.tb_next is not None:
            tb = tb.tb_next
        code = tb.tb_frame.f_code if tb is not None else None
        return not (
            code is not None
            and code.co_name == "cancel"
            and code.co_filename.replace("\\", "/").endswith("distributed/utils.py")
        )


def quiet_sync_cancel() -> None:
    """Install :class:`SyncCancelBeforeStart` on tornado's application logger (once)."""
    logger = logging.getLogger("tornado.application")
    if not any(isinstance(f, SyncCancelBeforeStart) for f in logger.filters):
        logger.addFilter(SyncCancelBeforeStart())


class QuietCancelledAtClose(WorkerPlugin):
    """Installs :class:`CancelledAtClose` on the state-machine logger of each worker and
    :class:`HeartbeatToClosedScheduler` on its worker logger (once per worker process, also
    for workers the nanny restarts), and in a worker process of its own has SIGINT ignored
    (the command that started the cluster handles Ctrl-C)."""

    name = "mtj-hil-quiet-cancelled-at-close"

    def setup(self, worker: Any) -> None:
        own_process = multiprocessing.parent_process() is not None
        if own_process and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGINT, signal.SIG_IGN)
        for name, kind in (
            (STATE_MACHINE_LOGGER, CancelledAtClose),
            (WORKER_LOGGER, HeartbeatToClosedScheduler),
        ):
            logger = logging.getLogger(name)
            if not any(isinstance(f, kind) for f in logger.filters):
                logger.addFilter(kind())
