"""The one progress display of the measuring commands (die measurements, experiments,
campaign runs): a row per task whose words and numbers stay whole at any width."""

from __future__ import annotations

from collections.abc import Iterable

from rich.cells import cell_len
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    Task,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Column, Table
from rich.text import Text

_BAR_MIN = 4
"""Width a progress bar needs at least beside the words of its row."""


class _Progress(Progress):
    """A progress display whose words and numbers stay whole at any width: narrower than a
    row with a bar, the row is its words alone, wrapped between them (rich cut them with
    ``…``: ``array… 1… 0:…``)."""

    def make_tasks_table(self, tasks: Iterable[Task]) -> Table:
        shown = [task for task in tasks if task.visible]
        rows = [
            [column(task) for column in self.columns if not isinstance(column, BarColumn)]
            for task in shown
        ]
        texts = [[cell for cell in row if isinstance(cell, Text)] for row in rows]
        if texts != rows or all(
            sum(cell_len(cell.plain) + 1 for cell in row) + _BAR_MIN <= self.console.width
            for row in texts
        ):
            return super().make_tasks_table(shown)
        table = Table.grid()
        table.add_column(overflow="fold")
        for row in texts:
            table.add_row(Text(" ").join(Text(cell.plain.strip(), cell.style) for cell in row))
        return table


def make_progress(out: Console, label_width: int) -> Progress:
    """A progress display on ``out``, one row per task: its label (right-aligned in
    ``label_width``), a bar, done of total and the time elapsed; kept on screen at the end."""
    return _Progress(  # where the row is too wide, the bar gives way first
        TextColumn(f"{{task.description:>{label_width}}}", table_column=Column(no_wrap=True)),
        BarColumn(),
        MofNCompleteColumn(table_column=Column(no_wrap=True)),
        TimeElapsedColumn(table_column=Column(no_wrap=True)),
        console=out,
        transient=False,
    )
