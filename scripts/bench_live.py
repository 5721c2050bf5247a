"""Benchmark: what ``--live`` costs a characterisation, and how soon an array reaches the page.

Overhead: ``mtj-hil characterize`` on a simulated die, run as a separate process,
alternately without and with ``--live``; while a ``--live`` run goes on, a viewer follows
the page the way the page itself does (long polls of ``/api/snapshot``). Target: the
median wall time with ``--live`` at most 5 % above the one without.

Latency: a ``--live`` characterisation on the virtual-lab station (the real drivers and
wire protocols; arrays land about a second apart, as on a bench). For every array flushed
while the page was up: from its flush (the time the writer recorded in the run file's
``/timeline/arrays``) to the first snapshot served to the viewer that holds it. Target:
within 1 s. The time from the run's first flush to the page's first answer (the server
starting beside a run that is already measuring) is printed apart.

    python scripts/bench_live.py [--pairs 5] [--arrays 0-31] [--lab-arrays 0-7] [--smoke]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path

import h5py
import numpy as np
from _smoke import bench_description

URL = re.compile(r"live view: (http://\S+?/) \(server pid (\d+)\)")
CPU: list[tuple[bool, float]] = []
"""(with --live, CPU seconds of the measuring process) of every run."""
STATION = Path(__file__).resolve().parents[1] / "stations" / "virtual-lab.toml"


class Viewer(threading.Thread):
    """Follows a live page: records when each array first appeared in a served snapshot."""

    def __init__(self, url: str) -> None:
        super().__init__(daemon=True)
        self.url, self.seen, self.stop = url, {}, threading.Event()
        self.first: float | None = None

    def run(self) -> None:
        seq = None
        while not self.stop.is_set():
            q = "" if seq is None else f"?seq={seq}&wait=5"
            try:
                with urllib.request.urlopen(self.url + "api/snapshot" + q, timeout=10) as r:
                    snap = json.load(r)
            except OSError:
                time.sleep(0.05)
                continue
            now = time.time()
            seq = snap["seq"]
            if self.first is None and snap.get("state") != "waiting":
                self.first = now
            for a in snap.get("done_arrays", []):
                self.seen.setdefault(a, now)
            if snap.get("state") in ("completed", "failed", "interrupted"):
                return


def run_once(
    out: Path, arrays: str, live: bool, station: Path | None = None
) -> tuple[float, Viewer | None, int | None]:
    """Wall time (s) of one characterisation, its viewer (with ``live``), server pid."""
    args = [sys.executable, "-m", "mtj_hil", "characterize", "--arrays", arrays]
    args += ["--station", str(station)] if station else []
    args += ["--out", str(out), "--no-report"] + (["--live"] if live else [])
    log = out.with_suffix(".log")
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        args, stdout=log.open("w"), stderr=subprocess.STDOUT, env={**os.environ, "COLUMNS": "200"}
    )
    viewer, pid = None, None
    if live:
        while viewer is None and proc.poll() is None:
            m = URL.search(log.read_text(encoding="utf-8", errors="replace"))
            if m:
                pid = int(m.group(2))
                viewer = Viewer(m.group(1))
                viewer.start()
            else:
                time.sleep(0.01)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    proc.returncode = code = os.waitstatus_to_exitcode(status)
    if station is None:
        CPU.append((live, usage.ru_utime + usage.ru_stime))
    if code != 0:
        raise SystemExit(
            f"characterize failed ({code}):\n{log.read_text(encoding='utf-8', errors='replace')}"
        )
    if viewer is not None:
        # the page's server is niced: on a busy machine it may take a while to serve the end
        viewer.join(timeout=60)
        viewer.stop.set()
    return wall, viewer, pid


def flush_times(path: Path) -> dict[int, float]:
    """Array -> its flush time (s since the epoch) from the run file's timeline."""
    with h5py.File(path, "r") as h5:
        rows = h5["timeline/arrays"][()]
    return {int(a): float(t) for a, t, _ in rows}


def overhead(pairs: int, arrays: str, tmp: Path, servers: list) -> tuple[float, float]:
    """Median wall times (s) without and with --live on the simulated die."""
    plain, live = [], []
    for i in range(pairs):
        for with_live in (False, True) if i % 2 == 0 else (True, False):
            out = tmp / f"run{i}-{int(with_live)}.h5"
            wall, viewer, pid = run_once(out, arrays, with_live)
            (live if with_live else plain).append(wall)
            servers.append(pid)
            missing = set(flush_times(out)) - set(viewer.seen) if viewer is not None else set()
            if missing:
                raise SystemExit(f"arrays {sorted(missing)} never reached the page")
            print(f"simulated die, run {i}{' --live' if with_live else '':7s}: {wall:.2f} s")
    ratios = [b / a for a, b in zip(plain, live, strict=True)]
    print(f"per pair, with/without: {', '.join(f'{r:.3f}' for r in ratios)}")
    return statistics.median(plain), statistics.median(live)


def latency(arrays: str, tmp: Path, servers: list) -> tuple[np.ndarray, float]:
    """Flush-to-page latencies (s) of the arrays flushed while the page was up, and the
    start-up wait (s) from the first flush to the page's first answer."""
    out = tmp / "lab.h5"
    _, viewer, pid = run_once(out, arrays, True, STATION)
    servers.append(pid)
    assert viewer is not None and viewer.first is not None
    flushed = flush_times(out)
    if set(flushed) - set(viewer.seen):
        raise SystemExit(f"arrays {sorted(set(flushed) - set(viewer.seen))} never reached the page")
    steady = [viewer.seen[a] - t for a, t in flushed.items() if t >= viewer.first]
    return np.array(steady), max(viewer.first - min(flushed.values()), 0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=bench_description(__doc__))
    parser.add_argument("--pairs", type=int, default=5, help="runs without and with --live")
    parser.add_argument("--arrays", default="0-31", help="arrays of the simulated die")
    parser.add_argument("--lab-arrays", default="0-7", help="arrays on the virtual lab")
    parser.add_argument("--smoke", action="store_true", help="one quick pair, few arrays")
    args = parser.parse_args()
    if args.smoke:
        args.pairs, args.arrays, args.lab_arrays = 1, "0-7", "0-2"
    servers: list[int | None] = []
    load0 = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as tmp:
        try:
            base, with_live = overhead(args.pairs, args.arrays, Path(tmp), servers)
            lat, startup = latency(args.lab_arrays, Path(tmp), servers)
        finally:
            for pid in servers:  # the servers this bench started (they would idle out)
                if pid:
                    with contextlib.suppress(ProcessLookupError):
                        os.kill(pid, 15)
    print(f"load average (1 min) before and after: {load0:.1f}, {os.getloadavg()[0]:.1f}")
    print(f"wall time without --live: median {base:.2f} s over {args.pairs} runs")
    print(f"wall time with --live (one page following): median {with_live:.2f} s")
    cpu = {flag: statistics.median(c for f, c in CPU if f == flag) for flag in (False, True)}
    print(
        f"CPU of the measuring process: median {cpu[False]:.2f} s without, "
        f"{cpu[True]:.2f} s with --live (the server's own is apart, niced)"
    )
    print(f"page's first answer: {startup:.2f} s after the run's first flush (server start)")
    if lat.size == 0:  # the page first answered after the last flush: all startup
        lat = np.array([startup])
    print(
        f"latency flush -> page (virtual lab): median {1e3 * np.median(lat):.0f} ms, "
        f"max {1e3 * lat.max():.0f} ms over {lat.size} arrays"
    )
    cost = 100 * (with_live / base - 1)
    ok = cost <= 5 and lat.max() <= 1.0
    print(
        f"live view: overhead {cost:+.1f} % wall time (target <= 5 %), latency max "
        f"{lat.max():.2f} s (target <= 1 s): {'ok' if ok else 'MISSED'}"
    )


if __name__ == "__main__":
    main()
