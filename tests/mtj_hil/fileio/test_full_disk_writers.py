"""Writers on a full disk (an adversary's findings): the error names the file being written,
nothing cut short is left for a later command to take as complete, and a write that only
failed to flush its folder says the file is in place."""

from __future__ import annotations

import errno
import os
import socket
import subprocess
import sys

import pytest

import mtj_hil.fileio.atomic as atomic
from mtj_hil.cli.main import main
from mtj_hil.fileio.atomic import atomic_write, written_aside


def _full_after(monkeypatch, limit: int, match: str = "") -> None:
    """``write_all`` writes at most ``limit`` bytes of a file whose name holds ``match``,
    then fails as a full disk does (the first bytes land, the rest does not)."""
    real = atomic.write_all

    def write_all(fd, data):
        name = os.readlink(f"/proc/self/fd/{fd}")
        if match in name:
            real(fd, memoryview(data).cast("B")[:limit])
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real(fd, data)

    monkeypatch.setattr(atomic, "write_all", write_all)


def test_examples_on_a_full_disk_leave_no_cut_short_campaign(tmp_path, capsys, monkeypatch):
    """The copy cut short left a 1387-byte campaign file, which ``campaign check`` then
    passed with 40 of its 43 tasks, and the error named the source file."""
    _full_after(monkeypatch, 1387, "example-lot.toml")
    target = tmp_path / "lab"
    assert main(["examples", str(target)]) == 4
    err = " ".join(capsys.readouterr().err.split())
    wanted = target / "campaigns" / "example-lot.toml"
    assert f"cannot use {wanted}: No space left on device" in err, err
    assert not wanted.exists()
    assert not [p for p in wanted.parent.iterdir() if p.name.startswith(".")]


def test_a_written_aside_error_that_names_no_file_is_given_the_output(tmp_path):
    """An image library's last write on a full disk raises an OSError without a file name:
    the message said only "cannot write: No space left on device"."""
    path = tmp_path / "run.png"
    with pytest.raises(OSError) as caught, written_aside(path):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    assert caught.value.filename == str(path)


def test_a_folder_flush_that_fails_after_the_rename_says_the_file_is_whole(tmp_path, monkeypatch):
    """fit-profile said "cannot use my.toml: No space left on device" of a profile written
    whole, and its rerun was then refused because the file existed."""
    path = tmp_path / "my.toml"

    def no_flush(folder):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(atomic, "fsync_dir", no_flush)
    with pytest.raises(OSError) as caught:
        atomic_write(path, b'name = "x"\n')
    assert path.read_bytes() == b'name = "x"\n'
    assert caught.value.filename == str(path)
    assert "the file was written whole and is in place" in caught.value.strerror


def test_a_killed_writers_temporary_is_removed_by_the_next_write(tmp_path):
    """A temporary a killed ``fit-profile`` left (``.my.toml.tmp-HOST-PID-HEX``) stayed
    after every later write."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()  # fmt: skip
    host = socket.gethostname().replace("-", "_") or "host"
    stale = tmp_path / f".my.toml.tmp-{host}-{dead}-0badcafe"
    stale.write_bytes(b"half")
    atomic_write(tmp_path / "my.toml", b'name = "x"\n')
    assert sorted(p.name for p in tmp_path.iterdir()) == ["my.toml"]
