"""Outputs drawn from the data (PNG figures, Markdown and CSV summaries) are written aside
and renamed into place: their path holds the old file or the whole new one, never half."""

from __future__ import annotations

import os
import signal

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from mtj_hil.fileio.atomic import written_aside  # noqa: E402
from mtj_hil.testing.crash import in_child  # noqa: E402


def test_a_writer_that_fails_leaves_the_old_file_and_no_temporary(tmp_path):
    path = tmp_path / "summary.md"
    path.write_text("the old summary")
    with pytest.raises(OSError), written_aside(path) as tmp:
        tmp.write_text("half of the new")
        raise OSError(28, "No space left on device")
    assert path.read_text() == "the old summary"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["summary.md"]


def test_the_temporary_keeps_the_suffix_so_matplotlib_draws_the_format(tmp_path):
    path = tmp_path / "lot.png"
    fig, ax = plt.subplots()
    ax.plot([0, 1], [1, 0])
    with written_aside(path) as tmp:
        assert tmp.suffix == ".png" and tmp.name.startswith(".lot.png.tmp-")
        fig.savefig(tmp)
    plt.close(fig)
    assert path.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lot.png"]


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_a_writer_killed_half_way_leaves_the_old_file_and_the_next_tidies_up(tmp_path):
    path = tmp_path / "lot.csv"
    path.write_text("old,table\n")

    def body(report) -> int:
        with written_aside(path) as tmp, open(tmp, "w") as fh:
            fh.write("new,ta")
            fh.flush()
            os.kill(os.getpid(), signal.SIGKILL)
        return 0

    assert in_child(body, tmp_path.parent / "child.log").code == -signal.SIGKILL
    assert path.read_text() == "old,table\n"
    assert len(list(tmp_path.glob(".lot.csv.tmp-*"))) == 1  # the killed writer's
    with written_aside(path) as tmp:
        tmp.write_text("new,table\n")
    assert path.read_text() == "new,table\n"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lot.csv"]


def test_a_rename_that_fails_names_the_path_not_the_temporary(tmp_path):
    path = tmp_path / "lot.png"
    path.mkdir()  # a folder where the figure goes
    with pytest.raises(IsADirectoryError) as caught, written_aside(path) as tmp:
        tmp.write_bytes(b"figure")
    assert caught.value.filename == str(path) and caught.value.filename2 is None
    assert sorted(p.name for p in tmp_path.iterdir()) == ["lot.png"]
