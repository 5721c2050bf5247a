"""What the ``mtj-hil experiment`` commands share: their console, progress display and
results folder."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime
from pathlib import Path

from mtj_hil.cli.progress_display import make_progress
from mtj_hil.cli.tables import make_console
from mtj_hil.fileio.writable import check_writable_place

console = make_console(stderr=True)


@contextmanager
def progress_bar() -> Iterator[Callable[[str, int, int], None]]:
    """A rich progress display as a ``progress(stage, done, total)`` callback."""
    with make_progress(console, 24) as bar:
        tasks: dict[str, int] = {}

        def update(stage: str, done: int, total: int) -> None:
            if stage not in tasks:
                tasks[stage] = bar.add_task(stage, total=total)
            bar.update(tasks[stage], completed=done, total=total)

        yield update


def results_folder(out_dir: Path | None, name: str, run_file: str | None = None) -> Path:
    """The results folder (default ``runs/<name>-<time>``), made and found writable before
    the experiment runs (it used to fail there after the whole computation), with room for
    the run file written in it at the end, ``run_file`` (default ``<name>.h5``; a path
    relative to the folder) and the files written beside that run file.

    Raises:
        OSError: the folder cannot be made or written, or its path leaves no room for the
            run file (exit 4, naming it)."""
    from mtj_hil.runs.store.lease import check_run_name

    folder = (
        out_dir
        if out_dir is not None
        else (Path("runs") / f"{name}-{datetime.now().strftime('%Y%m%d-%H%M%S')}")
    )
    check_run_name(folder / (run_file or f"{name}.h5"))  # as the run file is made, at the end
    check_writable_place(folder / f"{name}.h5")
    return folder
