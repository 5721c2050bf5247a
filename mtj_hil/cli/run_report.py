"""The PNG report beside a run file: drawn whole at the end of a run, and drawn by
``--resume`` when the run ended but its report was lost (a stop, a full disk or a kill
while drawing it)."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from mtj_hil.cli.common import console
from mtj_hil.errors import StoreError


def report_missing(out: Path | None) -> bool:
    """Whether ``out`` is a completed run file whose PNG report (``out`` with ``.png``) is
    missing: the command was stopped, or the disk filled, after the run ended and before
    the report was drawn, or a folder stood where it goes."""
    if out is None or not out.exists() or out.with_suffix(".png").is_file():
        return False
    from mtj_hil.runs.store import RunFile

    try:
        with RunFile.open(out) as run:
            return run.status == "completed"
    except StoreError:
        return False


def finish_report(out: Path | None, resume: bool, report: bool, kind: str) -> bool:
    """For ``--resume --out OUT`` of a ``kind`` run command: when the run in ``out`` is
    completed but its report is missing (:func:`report_missing`), print its summary and
    draw the report, and return True (the command has nothing more to do; nothing is
    measured); False otherwise (a completed run with its report is refused later, as ever).

    Raises:
        click.UsageError: ``--resume`` without ``--out``.
    """
    if resume and out is None:
        raise click.UsageError("--resume needs --out FILE: the run file to finish")
    if not (resume and report and report_missing(out)):
        return False
    assert out is not None
    from mtj_hil.kinds import measurement_kinds

    measured = measurement_kinds()[kind]
    console.print(escape(f"{out} is completed; drawing its missing report"), soft_wrap=True)
    measured.piece("summary")(out)
    draw_report(out, kind)
    return True


def draw_report(out: Path, kind: str) -> None:
    """The PNG report of the ``kind`` run file ``out``, drawn beside it (``.png``) under a
    temporary name and moved into place whole: a report cut short (a full disk, a stop, or
    a kill that cleans nothing up) is no ``.png``, so ``--resume`` draws it again
    (:func:`finish_report`); a temporary a killed process left is removed here."""
    from mtj_hil.fileio.atomic import written_aside
    from mtj_hil.kinds import measurement_kinds

    measured = measurement_kinds()[kind]
    png = out.with_suffix(".png")
    with written_aside(png) as tmp:  # a full disk, a stop: a half-written image is no report
        measured.piece("report")(measured.piece("load")(out), tmp)
    console.print(escape(f"report: {png}"), soft_wrap=True)
