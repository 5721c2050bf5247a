"""The ``mtj-hil`` script's entry point: quiet about a stop signal before and after a command.

Loading the command takes a second or two (numpy, h5py, scipy ...; :func:`mtj_hil.cli.main.main`
imports the one command it runs before it installs its own handlers), and the process lives on
briefly after the command returns. A Ctrl-C, SIGTERM, SIGHUP or SIGQUIT there printed a ``KeyboardInterrupt``
traceback or ended the process without a word. Here, until the command installs its own
handlers (:func:`mtj_hil.instruments.bus.signals.stop_signals_raise`) and again after they are
restored, such a signal ends the process quietly with the shell's status, ``128 + signal``;
nothing has been measured yet, or everything is already written. Signals ignored at start
(``nohup``) stay ignored.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from typing import Any

_QUIET = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT)


def _leave(signum: int, frame: Any) -> None:
    """End the process at once with ``128 + signum`` (nothing is open yet, or still)."""
    os._exit(128 + signum)


def run() -> int:
    """Run ``mtj-hil`` with the arguments of this process; returns its exit status."""
    for sig in _QUIET:
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _leave)
    from mtj_hil.cli.main import main

    code = main()
    if sys.stdout is not None:  # written out now: a late signal's quick exit skips it
        with contextlib.suppress(OSError, ValueError):  # (a reader gone, a closed stream)
            sys.stdout.flush()
    return code


def script() -> None:
    """The console script: :func:`run`, then exit with its status."""
    sys.exit(run())
