"""The kill-at-every-write harness: every file-system write of a run is, in turn, the point
where the process dies (SIGKILL, as a power cut or an OOM kill would) or where the write
fails (ENOSPC, EFBIG, EIO, EROFS); then the run is resumed and compared with one that was
never interrupted.

The shim (``crashshim.c``, compiled here with ``cc`` and preloaded with ``LD_PRELOAD``)
stands in front of libc's writes and counts the *write points* (writes, fsyncs, renames,
links, unlinks, file creations, ...) on files under the scenario's folder. Each trial forks
this process (already preloaded and with everything imported), arms the shim in the child
and runs the scenario there; the parent waits, then resumes in a fresh child and compares.

A trial's verdicts (see :class:`Tally`):

- *unresumable*: the resume did not finish (an error, a crash, a hang);
- *silently different*: it finished, but the kept file's data differ from the reference;
- *lost arrays*: an array reported finished before the kill was missing afterwards or
  measured again;
- for write faults, a *crash*: anything but exit status 4 with a message naming the file
  and the cause (or, for a failed clean-up after everything was written, exit 0 with the
  data complete), or measurement going on after the failed write.
"""

from __future__ import annotations

import ctypes
import errno
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

SHIM_SOURCE = Path(__file__).with_name("crashshim.c")
SHIM_ENV = "MTJ_CRASH_SHIM"
FAULTS = {"ENOSPC": errno.ENOSPC, "EFBIG": errno.EFBIG, "EIO": errno.EIO, "EROFS": errno.EROFS}
KILL, FAIL = 1, 2


def build_shim(folder: Path) -> Path:
    """Compile the shim into ``folder``.

    Raises:
        RuntimeError: no C compiler, or it failed (its message included).
    """
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        raise RuntimeError("the crash harness needs a C compiler ('cc') to build its shim")
    out = folder / "crashshim.so"
    proc = subprocess.run(
        [cc, "-shared", "-fPIC", "-O2", "-o", str(out), str(SHIM_SOURCE), "-ldl"],
        capture_output=True,
        text=True,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"building the crash shim failed: {proc.stderr.strip()}")
    return out


def preload_and_reexec(argv: list[str]) -> None:
    """Make sure this process runs with the shim preloaded: if not, build it and re-execute
    ``python argv...`` with ``LD_PRELOAD`` (this call then never returns)."""
    if os.environ.get(SHIM_ENV) and Path(os.environ[SHIM_ENV]).exists():
        return
    folder = Path(tempfile.mkdtemp(prefix="mtj-crash-shim-"))
    shim = build_shim(folder)
    env = dict(os.environ)
    env[SHIM_ENV] = str(shim)
    env["LD_PRELOAD"] = " ".join(p for p in (str(shim), env.get("LD_PRELOAD", "")) if p)
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env.setdefault("OMP_NUM_THREADS", "1")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    os.execve(sys.executable, [sys.executable, *argv], env)


class Shim:
    """The preloaded shim's controls (see ``crashshim.c``)."""

    def __init__(self) -> None:
        lib = ctypes.CDLL(None)
        try:
            self._arm = lib.mtjcrash_arm
        except AttributeError as exc:
            raise RuntimeError("the crash shim is not preloaded (see preload_and_reexec)") from exc
        self._arm.argtypes = [ctypes.c_long, ctypes.c_int, ctypes.c_int, ctypes.c_char_p]
        self._count = lib.mtjcrash_count
        self._count.restype = ctypes.c_long
        self._faulted = lib.mtjcrash_faulted

    def arm(self, k: int, mode: int, err: int, folder: Path | None) -> None:
        self._arm(k, mode, err, str(folder).encode() if folder else None)

    def count(self) -> int:
        return int(self._count())

    def faulted(self) -> bool:
        return bool(self._faulted())


@dataclass
class Child:
    """How a forked child ended: ``code`` (exit status, or ``-signal``), what it reported
    (one line per message) and whether it hung."""

    code: int
    lines: list[str] = field(default_factory=list)
    hung: bool = False

    def reported(self, prefix: str) -> list[str]:
        return [line[len(prefix) :] for line in self.lines if line.startswith(prefix)]


Body = Callable[[Callable[[str], None]], int]
"""What a child runs: ``body(report) -> exit status``; ``report(line)`` tells the parent."""


def in_child(body: Body, log: Path, timeout: float = 300.0) -> Child:
    """Run ``body`` in a forked child and wait for it (killing it after ``timeout`` s)."""
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: never returns
        code = 1
        try:
            os.close(read_fd)
            fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
            os.dup2(fd, 1)
            os.dup2(fd, 2)
            signal.signal(signal.SIGINT, signal.default_int_handler)

            def report(line: str) -> None:
                os.write(write_fd, (line.replace("\n", " ") + "\n").encode())

            code = body(report)
        except BaseException:  # noqa: BLE001 - the child reports everything, then exits
            traceback.print_exc()
            code = 1
        finally:
            os._exit(code)
    os.close(write_fd)
    chunks: list[bytes] = []
    deadline = time.monotonic() + timeout
    os.set_blocking(read_fd, False)
    status = None
    while status is None:
        try:
            while block := os.read(read_fd, 65536):
                chunks.append(block)
        except BlockingIOError:
            pass
        done, status_word = os.waitpid(pid, os.WNOHANG)
        if done:
            status = status_word
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
            os.close(read_fd)
            return Child(code=-signal.SIGKILL, hung=True)
        else:
            time.sleep(0.005)
    try:
        while block := os.read(read_fd, 65536):
            chunks.append(block)
    except BlockingIOError:
        pass
    os.close(read_fd)
    code = os.waitstatus_to_exitcode(status)
    return Child(code=code, lines=b"".join(chunks).decode(errors="replace").splitlines())


@dataclass
class Tally:
    """Counts over every trial, and what went wrong, one line each."""

    crash_points: int = 0
    unresumable: int = 0
    different: int = 0
    lost_arrays: int = 0
    write_faults: int = 0
    fault_crashes: int = 0
    problems: list[str] = field(default_factory=list)

    def note(self, problem: str) -> None:
        """Record a problem and print it at once (long runs show their troubles early)."""
        self.problems.append(problem)
        print("  " + problem, flush=True)

    def line(self) -> str:
        return (
            f"crash points: {self.crash_points} tried, {self.unresumable} unresumable, "
            f"{self.different} silently different, {self.lost_arrays} lost arrays; "
            f"write faults: {self.write_faults} tried, {self.fault_crashes} crashes"
        )


def exit_status(exc: BaseException) -> int:
    """The exit status ``mtj-hil`` gives for ``exc`` (see :mod:`mtj_hil.cli.main`)."""
    from mtj_hil.cli.main import EXIT_CODES

    if isinstance(exc, KeyboardInterrupt):
        return 130
    return next((c for t, c in EXIT_CODES.items() if isinstance(exc, t)), 1)


def guarded(run: Callable[[Callable[[str], None]], None]) -> Body:
    """A child body running ``run(report)``: exit 0, or the CLI's exit status for the error
    it raised, whose message is reported as ``error <text>``."""

    def body(report: Callable[[str], None]) -> int:
        try:
            run(report)
        except Exception as exc:  # noqa: BLE001 - mapped like the CLI maps it
            report(f"error {type(exc).__name__}: {exc}")
            return exit_status(exc)
        return 0

    return body


def trial_dirs(root: Path, name: str) -> tuple[Path, Path]:
    """A fresh ``(data folder, log file)`` for one trial under ``root``."""
    base = root / name
    if base.exists():
        shutil.rmtree(base)
    data = base / "data"
    data.mkdir(parents=True)
    return data, base / "log.txt"
