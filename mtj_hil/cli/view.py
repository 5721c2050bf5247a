"""``mtj-hil view`` (a live web page of a run file or a campaign) and the ``--live`` option
of the measuring commands, which starts that page beside the measurement.

The page is served by a separate process (``mtj-hil view`` with an inherited socket), so a
crash or a kill of either never touches the other: the server only reads the run file.
"""

from __future__ import annotations

import functools
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from mtj_hil.cli.common import GivenPath, console
from mtj_hil.cli.numbers import FiniteRange

_KEY = "mtj_hil.live"
HOST_DEFAULT = "[default: 127.0.0.1, this machine only]"
HOST_RISK = (
    "Anything else lets other machines read the page (it is read-only, without "
    "authentication): a warning is printed."
)
HOST_HELP = f"Address to serve on {HOST_DEFAULT}. {HOST_RISK}"
MAX_SECONDS = 7 * 24 * 3600.0
"""Longest ``view --seconds``: a week (longer, leave it out and stop with Ctrl-C)."""


def _source(path: Path) -> Any:
    """What to serve for PATH: a campaign (``.toml``) or a run file.

    Raises:
        ConfigError: a campaign file that does not load. StoreError: not a run file.
    """
    from mtj_hil.runs.store.sniff import is_campaign_path

    if is_campaign_path(path):
        from mtj_hil.campaigns import load_campaign
        from mtj_hil.campaigns.live import CampaignSource

        return CampaignSource(load_campaign(path))
    from mtj_hil.errors import StoreError, blank_edge_hint
    from mtj_hil.live.snapshot import RunSource, check_run_file

    if not path.exists():
        raise StoreError(f"run file {path} does not exist{blank_edge_hint(path)}")
    check_run_file(path)
    return RunSource(path)


def _listen(
    host: str, port: int | None, options: tuple[str, str] = ("--host", "--port")
) -> socket.socket:
    from mtj_hil.live.binding import ALL_INTERFACES, is_loopback, listen

    sock = listen(host, port, options)
    if not is_loopback(host):
        where = "every address of this machine" if host in ALL_INTERFACES else escape(host)
        console.print(
            f"[yellow]warning[/]: the live view listens on {where}: anyone who can reach this "
            "machine can read the page (read-only, no authentication)",
            highlight=False,
            soft_wrap=True,
        )
    return sock


def _host_given(ctx: click.Context, param: click.Parameter, value: str) -> str:
    """Refuse an empty host: it binds every address, which must never happen by a slip."""
    if not value.strip():
        raise click.BadParameter(
            f"{value!r} names no address; leave it out for this machine only (127.0.0.1), "
            "or give 0.0.0.0 to serve every address",
            ctx,
            param,
        )
    return value


@click.command(short_help="Serve a live web page of a run or campaign file.")
@click.argument("path", type=GivenPath(dir_okay=False, path_type=Path))
@click.option(
    "--host", default="127.0.0.1", show_default=False, callback=_host_given, help=HOST_HELP
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port [default: the first free one from 8765]; one in use is an error.",
)
@click.option(
    "--seconds",
    type=FiniteRange(0, MAX_SECONDS, min_open=True),
    default=None,
    help="Stop serving after this many seconds, at most a week [default: until Ctrl-C].",
)
def view(path: Path, host: str, port: int | None, seconds: float | None) -> None:
    """Serve a live, read-only web page of PATH: a run file (characterisation or switching,
    running or finished) or a campaign file (.toml). The page follows the file as data is
    flushed: progress and times, the die map with defect classes, yields, resistance
    distributions, S-curves, Vc0/Delta maps and WER, a campaign's tasks and lot map, and the
    warnings. Ctrl-C stops the server (never the measurement)."""
    from mtj_hil.live.binding import url_of
    from mtj_hil.live.server import serve

    source = _source(path)
    sock = _listen(host, port)
    until = "Ctrl-C stops it" if seconds is None else f"for {seconds:g} s, or until Ctrl-C"
    console.print(
        escape(f"live view of {path}: {url_of(sock)}  ({until})"), highlight=False, soft_wrap=True
    )
    with suppress(KeyboardInterrupt):
        serve(source, sock, seconds=seconds)
    console.print("live view stopped")


def live_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add ``--live``, ``--live-host`` and ``--live-port`` to a measuring command (kept in
    the click context: the command's signature does not change; see :func:`live_view`)."""

    def keep(ctx: click.Context, param: click.Parameter, value: Any) -> Any:
        if param.name == "live_host":
            value = _host_given(ctx, param, value)
        ctx.meta.setdefault(_KEY, {})[param.name] = value
        return value

    run = command

    @functools.wraps(run)
    def checked(*args: Any, **kwargs: Any) -> Any:
        refuse_live_settings_without_live()
        return run(*args, **kwargs)

    command = checked

    for option in reversed(
        (
            click.option(
                "--live",
                is_flag=True,
                expose_value=False,
                callback=keep,
                help="Serve a live web page of the run as it goes (address printed).",
            ),
            click.option(
                "--live-host",
                default="127.0.0.1",
                expose_value=False,
                callback=keep,
                help=f"Address of the --live page {HOST_DEFAULT}. {HOST_RISK}",
            ),
            click.option(
                "--live-port",
                type=click.IntRange(1, 65535),
                default=None,
                expose_value=False,
                callback=keep,
                help="Port of the --live page [default: the first free one from 8765].",
            ),
        )
    ):
        command = option(command)
    return command


def refuse_live_settings_without_live() -> None:
    """Refuse ``--live-host`` or ``--live-port`` typed without ``--live`` (nothing would be
    served), before the command does anything.

    Raises:
        click.UsageError: naming the option and its value.
    """
    from click.core import ParameterSource

    ctx = click.get_current_context()
    opts = ctx.meta.get(_KEY, {})
    if opts.get("live"):
        return
    for name in ("live_host", "live_port"):
        if ctx.get_parameter_source(name) == ParameterSource.COMMANDLINE:
            option = "--" + name.replace("_", "-")
            raise click.UsageError(
                f"{option} {opts.get(name)} works with --live only: add --live to serve the "
                "page, or leave it out"
            )


@contextmanager
def live_view(target: Path) -> Iterator[None]:
    """With ``--live``, serve ``target`` (a run file, or a campaign file) from a separate
    ``mtj-hil view`` process while the block runs; it ends by itself once the measurement
    has ended and no page has asked for 5 minutes. Without ``--live``, nothing.

    Raises:
        ConfigError: the ``--live-port`` asked for is in use.
    """
    ctx = click.get_current_context(silent=True)
    opts = ctx.meta.get(_KEY, {}) if ctx is not None else {}
    if not opts.get("live"):
        yield
        return
    from mtj_hil.live.binding import url_of
    from mtj_hil.live.child import niceness
    from mtj_hil.live.server import IDLE_EXIT

    sock = _listen(
        opts.get("live_host") or "127.0.0.1",
        opts.get("live_port"),
        ("--live-host", "--live-port"),
    )
    url = url_of(sock)
    from mtj_hil.runs.store.sniff import is_campaign_path

    module = "mtj_hil.campaigns.live" if is_campaign_path(target) else "mtj_hil.live"
    # niced from its first instruction (its imports are most of the CPU it ever uses)
    argv = ["nice", "-n", str(niceness())] if shutil.which("nice") else []
    argv += [sys.executable, "-m", module, str(Path(target).resolve())]
    argv += ["--fd", str(sock.fileno()), "--parent-pid", str(os.getpid())]
    proc = subprocess.Popen(
        argv,
        pass_fds=[sock.fileno()],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        # its own process group (Ctrl-C on the measurement leaves the page up), but the same
        # session: with the kernel's autogroup scheduling a new session would compete with
        # the measurement as an equal, whatever its niceness
        process_group=0,
    )
    sock.close()
    console.print(
        escape(f"live view: {url} (server pid {proc.pid})"), highlight=False, soft_wrap=True
    )
    try:
        yield
    finally:
        console.print(
            escape(
                f"live view: still at {url} until no page has asked for "
                f"{IDLE_EXIT / 60:g} minutes (server pid {proc.pid})"
            ),
            highlight=False,
            soft_wrap=True,
        )
