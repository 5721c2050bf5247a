"""One process at a time on a bench: a lock per instrument address, held while a station is
open.

Two commands pointed at one bench (two terminals, a run and a calibration, a run and a
``station check``) each reset the SMU and the board the other was measuring with: both runs
ended on an instrument error blaming a reset or a trip, and a bench without an SMU noticed
nothing and recorded a wrong defect map as completed. Before any instrument is opened, the
process takes an exclusive ``flock`` on one lock file per address it will talk to (the
controller board's URL, each SMU's VISA resource as VISA compares them); a second process
is refused at once, told who holds the bench. The kernel drops the lock when its holder
ends however it ends (SIGKILL, a crash), so no stale lock is ever left to clear by hand.

The lock files live in one folder of this machine (:func:`lock_folder`, mode 1777 like
``/tmp``): processes on other machines reaching the same networked instrument are not seen.
In-process virtual labs (address ``"virtual"``) have nothing to share and take no lock.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import shlex
import socket
import sys
import tempfile
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from mtj_hil.instruments.bus.resource_names import resource_identity
from mtj_hil.instruments.errors import InstrumentError

ENV_FOLDER = "MTJ_HIL_LOCK_DIR"
"""Environment variable naming the folder of the lock files (default: see lock_folder)."""


class BenchInUse(InstrumentError):
    """Another process holds an instrument of this bench; nothing was sent to any."""


def lock_folder() -> Path:
    """``$MTJ_HIL_LOCK_DIR``, else ``<temp>/mtj-hil-benches`` (made with mode 1777, so every
    user of the machine shares it).

    Raises:
        BenchInUse: the folder cannot be made (naming it, the cause and the variable).
    """
    given = os.environ.get(ENV_FOLDER)
    folder = Path(given) if given else Path(tempfile.gettempdir()) / "mtj-hil-benches"
    if not folder.is_dir():
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise BenchInUse(
                f"cannot make the bench lock folder {folder}: {exc.strerror}; name a folder "
                f"every user of this machine may write with {ENV_FOLDER}"
            ) from exc
        with contextlib.suppress(OSError):  # another user's folder: theirs to set
            os.chmod(folder, 0o1777)
    return folder


def address_key(address: str) -> str:
    """One spelling per instrument address: a VISA resource as VISA compares it, a serial
    device by the file it resolves to (``/dev/serial/by-id/...`` is ``/dev/ttyUSB0``), a
    ``socket://`` or ``rfc2217://`` URL in lower case."""
    text = address.strip()
    if "::" in text:
        return resource_identity(text)
    if "://" in text:
        return text.lower()
    return os.path.realpath(text)


def _lock_path(folder: Path, key: str) -> Path:
    return folder / f"{hashlib.sha256(key.encode()).hexdigest()[:20]}.lock"


def _holder(path: Path) -> str:
    """Who holds the lock file ``path``, as its holder wrote it (best effort)."""
    try:
        info = json.loads(path.read_text(encoding="utf-8") or "{}")
    except (OSError, ValueError):
        return "another process"
    return (
        f"process {info.get('pid', '?')} on {info.get('host', '?')} since "
        f"{info.get('since', '?')}: {info.get('command', '?')}"
        + (f" (in {info['cwd']})" if info.get("cwd") else "")
    )


@contextlib.contextmanager
def hold_bench(addresses: Iterable[str]) -> Iterator[None]:
    """Hold the lock of every address in ``addresses`` (``"virtual"`` ones skipped) for the
    block, taken in a fixed order so two processes never wait on each other.

    Raises:
        BenchInUse: an address is held by another process (or by another open station of
            this one), naming the address and the holder; no lock is kept then.
    """
    keys = sorted({address_key(a) for a in addresses if a and a != "virtual"})
    if not keys:
        yield
        return
    folder = lock_folder()
    held: list[int] = []
    try:
        for key in keys:
            path = _lock_path(folder, key)
            fd = _open_lock(path)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise BenchInUse(
                    f"{key} is in use by {_holder(path)}; nothing was sent to any instrument: "
                    "wait for that command to end (or stop it), then run again"
                ) from None
            held.append(fd)
            _write_holder(fd, key)
        yield
    finally:
        for fd in held:
            os.close(fd)  # closing the file releases its flock


def _open_lock(path: Path) -> int:
    """The lock file ``path`` opened (made, writable by every user, if new). Another user's
    file this user may not write is opened read-only: ``flock`` needs no write access, only
    the holder's note is then left as it was.

    Raises:
        BenchInUse: the lock file cannot be opened at all (naming it and why).
    """
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o666)
    except PermissionError:
        try:
            return os.open(path, os.O_RDONLY)
        except OSError as exc:
            raise BenchInUse(f"cannot open the bench lock {path}: {exc.strerror}") from exc
    except OSError as exc:
        raise BenchInUse(f"cannot open the bench lock {path}: {exc.strerror}") from exc
    with contextlib.suppress(OSError):  # the umask took write access from other users
        os.fchmod(fd, 0o666)
    return fd


def _write_holder(fd: int, key: str) -> None:
    """Record who holds the lock in its file, for the message a second process gets."""
    info = {
        "pid": os.getpid(),
        "host": socket.gethostname(),
        "since": datetime.now(UTC).isoformat(timespec="seconds"),
        "command": shlex.join([Path(sys.argv[0]).name or "python", *sys.argv[1:]])[:300],
        "address": key,
        "cwd": _cwd(),  # the command's relative paths mean something only from there
    }
    with contextlib.suppress(OSError):
        os.ftruncate(fd, 0)
        os.pwrite(fd, json.dumps(info).encode(), 0)


def _cwd() -> str:
    """The working folder (empty when it cannot be known, e.g. removed)."""
    try:
        return os.getcwd()[:300]
    except OSError:
        return ""
