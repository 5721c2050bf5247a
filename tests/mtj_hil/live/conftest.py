"""Fixtures of the live-view tests (``lv``): start ``mtj-hil`` commands as processes, find the page's
address in their output, and end exactly the processes a test started."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import threading
import time
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import pytest

REPO = Path(__file__).resolve().parents[3]
VIRTUAL_LAB = REPO / "stations" / "virtual-lab.toml"
URL = re.compile(r"live view(?: of \S+)?: (http://\S+?/)(?: \(server pid (\d+)\))?")


def start(args: list[str], log: Path) -> subprocess.Popen:
    """``python -m mtj_hil ARGS`` with its output in ``log`` (a file: a full pipe would stall
    the measurement). Its live server runs at the measurement's own priority: the suite loads
    every core with test workers of that priority, among which a niced server would wait tens
    of seconds for the CPU (the niceness itself is tested in test_cli_live.py)."""
    return subprocess.Popen(
        [sys.executable, "-m", "mtj_hil", *args],
        stdout=log.open("w"),
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**os.environ, "COLUMNS": "200", "MTJ_HIL_LIVE_NICE": "0"},
    )


def page_address(log: Path, timeout: float = 60.0) -> tuple[str, int | None]:
    """The URL (and server pid, for ``--live``) the command printed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = URL.search(log.read_text())
        if m:
            return m.group(1), int(m.group(2)) if m.group(2) else None
        time.sleep(0.05)
    raise AssertionError(f"no live-view address printed:\n{log.read_text()}")


def snapshot(url: str, seq: int | None = None, wait: float = 0) -> dict:
    """The page's data, as the page asks for it."""
    q = "" if seq is None else f"?seq={seq}&wait={wait}"
    with urllib.request.urlopen(url + "api/snapshot" + q, timeout=30) as r:
        return json.load(r)


def end(pid: int | None) -> None:
    """Stop one process this test started (if it still runs)."""
    if pid is None:
        return
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return
    for _ in range(50):
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        try:
            if os.waitpid(pid, os.WNOHANG)[0] == pid:
                return
        except ChildProcessError:
            pass
        time.sleep(0.05)
    os.kill(pid, signal.SIGKILL)


PACE = 0.15
"""Wall seconds per modelled lab second of the paced lab: an array of the virtual lab's die
takes about 1.6 s, as on a bench, so a page polling every few tenths of a second sees the map
fill in however fast or busy the machine is."""


def paced_lab(folder: Path) -> Path:
    """The virtual-lab station with ``[virtual_lab] pace`` set (calibration records kept in
    ``folder``)."""
    text = VIRTUAL_LAB.read_text(encoding="utf-8")
    text = text.replace("[virtual_lab]\n", f"[virtual_lab]\npace = {PACE}\n", 1)
    path = folder / "paced-virtual-lab.toml"
    path.write_text(text, encoding="utf-8")
    return path


def system_port() -> int:
    """A port free now, from the system's own range: for a test that ends its server and
    starts another on the same port. From the range after ``FIRST_PORT`` (the default),
    a ``--live`` of a test on another worker could take it in between."""
    import socket

    with socket.create_server(("127.0.0.1", 0)) as probe:
        return probe.getsockname()[1]


@pytest.fixture
def lv(tmp_path: Path) -> SimpleNamespace:
    """The helpers above, for the tests of this folder; ``lab`` is the paced virtual lab."""
    return SimpleNamespace(
        start=start,
        page_address=page_address,
        snapshot=snapshot,
        end=end,
        system_port=system_port,
        lab=paced_lab(tmp_path),
    )


@pytest.fixture
def serving():
    """Serve sources in this process: ``serving(source)`` gives the page's address. Each
    server listens on a port the system picks (never the range from ``FIRST_PORT`` that
    the ``--live`` processes of tests on other workers take), and stops when the test
    ends: a server left running held its port for the worker's life, and a test that
    ended its own server and started another on the same port lost that port to them."""
    from mtj_hil.live.binding import listen, url_of
    from mtj_hil.live.server import serve

    running: list[tuple[threading.Event, threading.Thread]] = []

    def start(source) -> str:
        sock = listen("127.0.0.1", 0)
        ready, stop = threading.Event(), threading.Event()
        thread = threading.Thread(
            target=serve, args=(source, sock), kwargs={"ready": ready, "until": stop}, daemon=True
        )
        thread.start()
        assert ready.wait(5), "the server did not start"
        running.append((stop, thread))
        return url_of(sock)

    yield start
    for stop, _ in running:
        stop.set()
    for _, thread in running:
        thread.join(5)
        assert not thread.is_alive(), "a server did not stop when asked"
