"""Stopping a campaign's tasks on workers no signal reaches.

Ctrl-C or SIGTERM stops ``campaign run`` on the client; a task on a remote worker (``--scheduler``)
went on driving its station, and its run file ended ``completed`` after the command had
said it stopped. Now the client sets a Dask ``Event`` named for the run
(:func:`stop_tasks`), and each task watches it (:func:`stopped_by_client`): once set, the
task's thread is asked to stop (:func:`~mtj_hil.instruments.bus.signals.request_stop`), so
its next bus transaction raises ``StopSignal`` and the usual shutdown follows (outputs off,
board reset, run file marked ``aborted``). A simulated die has no bus: its task runs to its
end, which harms no instrument.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

from mtj_hil.instruments.bus.signals import forget_requested_stop, request_stop

POLL = 1.0
"""Seconds between a task's looks at its run's stop event (each look waits on it)."""
STOP_WAIT = 30.0
"""Seconds the client waits for the tasks in flight to stop and report, after a stop."""


class StopWatch:
    """What :func:`stopped_by_client` yields: whether it asked the task to stop."""

    requested = False


@contextmanager
def stopped_by_client(event_name: str | None) -> Iterator[StopWatch]:
    """While the block runs (a task on a Dask worker), stop this thread when the client sets
    the Dask event ``event_name`` (no-op for None or outside a worker)."""
    watch = StopWatch()
    event = _event(event_name)
    if event is None:
        yield watch
        return
    ident, done = threading.get_ident(), threading.Event()

    def look() -> None:
        while not done.is_set():
            try:
                if event.wait(timeout=POLL):
                    watch.requested = True
                    request_stop(ident, signal.SIGTERM)
                    return
            except Exception:  # noqa: BLE001 - the scheduler gone: the worker stops anyway
                return

    thread = threading.Thread(target=look, name="campaign-stop-watch", daemon=True)
    thread.start()
    try:
        yield watch
    finally:
        done.set()
        # its wait ends within POLL s: one still pending when the cluster closes is
        # cancelled there, and the scheduler logs that as an ERROR with a traceback
        thread.join(POLL + 1.0)
        forget_requested_stop(ident)  # never left for the thread's next task


def _event(name: str | None) -> Any:
    """The Dask event ``name`` seen from this worker, or None (no name, not on a worker)."""
    if name is None:
        return None
    try:
        from distributed import Event, get_client, get_worker

        get_worker()
    except (ImportError, ValueError):
        return None
    # with the worker's client named: the event is waited on from another thread, where
    # Dask cannot find the worker by itself
    return Event(name, client=get_client())


def stop_tasks(
    client: Any, event_name: str, in_flight: dict[str, Any], record: Callable[[Any], None]
) -> None:
    """Set the run's stop event and record the tasks of ``in_flight`` (future keys to
    futures: those that drive a station) as they end, for at most :data:`STOP_WAIT`
    seconds."""
    from distributed import Event, as_completed

    Event(event_name, client=client).set()
    if not in_flight:
        return
    try:
        for fut in as_completed(list(in_flight.values()), timeout=STOP_WAIT):
            record(fut)
    except TimeoutError:
        pass  # those left are recorded 'running': status shows them interrupted
