"""A run file another program holds open for writing (h5py in 'a' mode, an HDF5 editor) is
said to be that, not damaged: HDF5 rewrites bytes of a file it opens for writing, so its
checksum fails while it is held, and the file used to be called damaged, with advice to
restore it from a copy. Once the other program closes it, it reads as before."""

from __future__ import annotations

import subprocess
import sys
import textwrap

from mtj_hil.cli import main

HOLDER = textwrap.dedent(
    """
    import sys, time
    import h5py
    f = h5py.File(sys.argv[1], "a")
    print("open", flush=True)
    sys.stdin.readline()
    f.close()
    """
)


def test_a_file_held_open_for_writing_is_named_as_held_not_damaged(run_file, capsys):
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(run_file)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "open"
        resume = ["characterize", "--profile", "passive-15x15", "--arrays", "0", "--resume"]
        for command in (
            ["show", str(run_file)],
            ["show", "--verify", str(run_file)],
            ["export", str(run_file), "--format", "csv"],
            [*resume, "--no-report", "--out", str(run_file)],
        ):
            assert main(command) == 4
            err = capsys.readouterr().err
            assert "is open for writing in another program" in err
            assert "restore it from a copy" not in err
    finally:
        holder.communicate("\n", timeout=30)
    assert holder.returncode == 0
    assert main(["show", str(run_file)]) == 0  # closed unchanged: it reads as before
