"""The server process that ``--live`` starts beside a measurement: it inherits the
listening socket (so the address printed is already bound), runs at a lower CPU priority
than the measurement, and ends once the measurement has ended and no page has asked for a
while. ``python -m mtj_hil.live`` serves a run file this way (campaigns:
``python -m mtj_hil.campaigns.live``); it imports only what a viewer needs."""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
from collections.abc import Callable
from pathlib import Path

from mtj_hil.live.server import IDLE_EXIT, serve
from mtj_hil.live.snapshot import Source

NICE = 10
"""The server's niceness (from its first instruction): the measurement comes first for the
CPU. On a quiet machine the server has a core of its own anyway; on a loaded one it gets
about a tenth of what the measurement gets (19 starved the page for the whole of a CPU-bound
virtual-lab run; ``scripts/bench_live.py`` prints both figures). The environment variable
``MTJ_HIL_LIVE_NICE`` (0-19) sets another, e.g. 0 where the page matters as much as the run
or the machine is loaded with other work of equal priority."""


def niceness() -> int:
    """The niceness the live server runs at: ``MTJ_HIL_LIVE_NICE`` if set (clipped to
    0-19; ignored when not an integer), else :data:`NICE`."""
    try:
        return min(max(int(os.environ.get("MTJ_HIL_LIVE_NICE", NICE)), 0), 19)
    except ValueError:
        return NICE


def main(make_source: Callable[[Path], Source], argv: list[str] | None = None) -> int:
    """Serve ``make_source(PATH)`` on the inherited socket ``--fd`` (exit status 0)."""
    parser = argparse.ArgumentParser(prog="python -m mtj_hil.live")
    parser.add_argument("path", type=Path)
    parser.add_argument("--fd", type=int, required=True, help="inherited listening socket")
    parser.add_argument("--parent-pid", type=int, default=None)
    parser.add_argument("--idle-exit", type=float, default=IDLE_EXIT, help="s")
    args = parser.parse_args(argv)
    with contextlib.suppress(OSError):
        # started through ``nice`` it is there already; nicer than asked is left alone
        os.nice(max(niceness() - os.nice(0), 0))
    sock = socket.socket(fileno=args.fd)
    with contextlib.suppress(KeyboardInterrupt):
        serve(make_source(args.path), sock, parent_pid=args.parent_pid, idle_exit=args.idle_exit)
    return 0
