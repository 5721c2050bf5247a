"""Stop signals: SIGTERM, SIGHUP and SIGQUIT end a run the way Ctrl-C does.

``systemd stop``, ``timeout``, a closed ssh session and a batch system's limit send SIGTERM
or SIGHUP, not SIGINT. Inside :func:`stop_signals_raise` each of the four signals raises
:class:`StopSignal` (a ``KeyboardInterrupt``, so every ``except KeyboardInterrupt`` and
``finally`` on the way out runs: outputs off, board reset, run status recorded). Like
Ctrl-C they are held back while a bus transaction is on the wire
(:func:`mtj_hil.instruments.bus.transport.defer_sigint`). Once one has been raised, further
stop signals are ignored (with a line on stderr) so the shutdown that follows cannot be cut
short; only SIGKILL ends the process then. A signal that lands while a finaliser or weakref
callback runs raises there, where Python drops the exception: the block's unraisable hook
sees it and sends the signal again, so it stops the run from ordinary code instead of
being lost (and every later stop refused). Signals ignored when the block starts (``nohup``,
a shell's background job) stay ignored.

Exit status: ``128 + signal number``, the shell's convention: 130 (SIGINT), 129 (SIGHUP),
131 (SIGQUIT), 143 (SIGTERM).
"""

from __future__ import annotations

import os
import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

STOP_SIGNALS: tuple[signal.Signals, ...] = (
    signal.SIGINT,
    signal.SIGTERM,
    signal.SIGHUP,
    signal.SIGQUIT,
)


class StopSignal(KeyboardInterrupt):
    """The process was asked to stop by ``signum``; ``exit_code`` is ``128 + signum``."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.name = signal.Signals(signum).name
        self.exit_code = 128 + signum
        super().__init__(f"stopped by {self.name}")


_stopping: list[int] = []
_active: list[bool] = []
"""Non-empty while a :func:`stop_signals_raise` block runs."""

RESEND_DELAY = 0.01
"""Seconds after a stop signal was dropped in a finaliser before it is sent again."""


def _raise_stop(signum: int, frame: Any) -> None:
    if _stopping:
        print(
            f"{signal.Signals(signum).name} ignored: already stopping safely (outputs off, "
            "board reset, status recorded)",
            file=sys.stderr,
        )
        return
    _stopping.append(signum)
    raise StopSignal(signum)


def is_stop_handler(handler: Any) -> bool:
    """Whether ``handler`` is the one :func:`stop_signals_raise` installs."""
    return handler is _raise_stop


@contextmanager
def stop_signals_raise() -> Iterator[None]:
    """Within the block, SIGINT, SIGTERM, SIGHUP and SIGQUIT raise :class:`StopSignal` (see
    the module docstring); the previous handlers come back after it. A no-op outside the
    main thread (only it can handle signals)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    _stopping.clear()
    for sig in STOP_SIGNALS:
        if previous[sig] is not signal.SIG_IGN:  # nohup's SIGHUP, a background job's SIGINT
            signal.signal(sig, _raise_stop)
    hook = sys.unraisablehook
    sys.unraisablehook = lambda unraisable: _send_lost_stop_again(unraisable, hook)
    _active.append(True)
    try:
        yield
    finally:
        _active.clear()
        sys.unraisablehook = hook
        for sig, handler in previous.items():
            signal.signal(sig, handler if handler is not None else signal.SIG_DFL)
        _stopping.clear()


def _send_lost_stop_again(unraisable: Any, hook: Any) -> None:
    """A :class:`StopSignal` raised in a finaliser or weakref callback, where Python drops
    it: send the signal again (it is handled at the next point of ordinary code); anything
    else goes to ``hook``."""
    exc = unraisable.exc_value
    if isinstance(exc, StopSignal) and _stopping == [exc.signum]:
        _stopping.clear()
        # from another thread, a moment later: sent from here, its handler would run (and
        # raise) inside this hook, where the exception is dropped again
        again = threading.Timer(RESEND_DELAY, _send_again, (exc.signum,))
        again.daemon = True
        again.start()
        return
    hook(unraisable)


def _send_again(signum: int) -> None:
    """Send ``signum`` to this process if the block is still on and no stop was raised
    since (else it would stop later code, or count as a second signal)."""
    if _active and not _stopping:
        os.kill(os.getpid(), signum)


_requested: dict[int, int] = {}
"""Thread ident -> signal number of a stop asked for that thread from elsewhere."""


def request_stop(thread_ident: int, signum: int = signal.SIGTERM) -> None:
    """Ask the thread ``thread_ident`` to stop as if ``signum`` had arrived: its next bus
    transaction raises :class:`StopSignal` instead of starting (:func:`raise_requested_stop`).
    For a thread no signal reaches: a campaign task on a remote Dask worker, whose client
    was stopped."""
    _requested[thread_ident] = signum


def forget_requested_stop(thread_ident: int) -> None:
    """Drop a stop asked for ``thread_ident`` that it has not raised (its task ended)."""
    _requested.pop(thread_ident, None)


def raise_requested_stop() -> None:
    """Raise the :class:`StopSignal` asked for this thread, once (its shutdown's own bus
    transactions then run).

    Raises:
        StopSignal: a stop was requested for this thread (:func:`request_stop`)."""
    if _requested:
        signum = _requested.pop(threading.get_ident(), None)
        if signum is not None:
            raise StopSignal(signum)


class HeldInterrupt:
    """Shutdown steps that all run even when Ctrl-C or a stop signal arrives during one.

    A bus transaction defers Ctrl-C until it ends and then raises ``KeyboardInterrupt``
    (:class:`StopSignal` included): in a shutdown that would skip every step after the one
    it landed in, e.g. leave an SMU output on because the interrupt came while the board's
    reset timed out. Run each step inside ``with hold:``; the first interrupt is kept (the
    step it landed in is abandoned, the next ones run) and :meth:`release` raises it once
    every step has been tried. Other exceptions pass through unchanged.
    """

    def __init__(self) -> None:
        self.interrupt: KeyboardInterrupt | None = None

    def __enter__(self) -> HeldInterrupt:
        return self

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, KeyboardInterrupt):
            if self.interrupt is None:
                self.interrupt = exc
            return True
        return False

    def release(self) -> None:
        """Raise the interrupt kept (if any); after this the hold is empty."""
        interrupt, self.interrupt = self.interrupt, None
        if interrupt is not None:
            raise interrupt
