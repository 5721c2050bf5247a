"""Tables that stay readable at any width (80 columns: every pipe and CI log): drawn as a
table when every cell fits whole, else stacked one row per block, so no id or number is
ever cut."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence

from rich.cells import cell_len
from rich.console import Console
from rich.markup import escape
from rich.table import Table
from rich.text import Text

_PROSE_MIN = 16
"""Width a wrapping (prose) column needs at least."""
_PRINTED_AS_WRITTEN = {"emoji": False}
"""Console settings every command prints with: ``emoji=False`` keeps codes such as ``:ok:``
in a die id (``sim:ok:lot0:die0``) as written, never turned into pictures."""


class ReaderGone(Exception):
    """The program reading the command's output closed it (``mtj-hil show RUN | head``);
    the command ends with the exit status of a SIGPIPE, 141, and prints nothing more."""


class _Console(Console):
    def on_broken_pipe(self) -> None:
        """Output after this goes nowhere; :class:`ReaderGone` ends the command (rich's own
        handler exits with 1, the status of an unexpected error)."""
        self.quiet = True
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        raise ReaderGone()


def make_console(*, stderr: bool = False, highlight: bool = True) -> Console:
    """The console a command prints on (stdout, or stderr for progress and messages); text
    comes out as written (no emoji codes replaced)."""
    return _Console(stderr=stderr, highlight=highlight, **_PRINTED_AS_WRITTEN)


def _width_needed(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    wrap: Sequence[int] = (),
    plain: bool = False,
) -> int:
    widths = [
        max([cell_len(str(h))] + [cell_len(str(r[i])) for r in rows if i < len(r)])
        for i, h in enumerate(headers)
    ]
    widths = [min(w, _PROSE_MIN) if i in wrap else w for i, w in enumerate(widths)]
    if plain:
        return sum(widths) + 2 * (len(widths) - 1)
    return sum(widths) + 3 * len(widths) + 1


def print_table(
    out: Console,
    headers: Sequence[str],
    rows: Sequence[Sequence[object]],
    title: str = "",
    right: Sequence[int] = (),
    wrap: Sequence[int] = (),
    plain: bool = False,
) -> None:
    """Print ``rows`` under ``headers``: a boxed table when it fits ``out.width`` with every
    cell on one line (cells of the ``wrap`` columns, prose, may wrap between words);
    otherwise each row as a block (its first cell, then ``header: value`` lines). Cells are
    printed as written (never read as markup). ``right``: columns to right-align; ``plain``:
    no box, two spaces between columns."""
    cells = [[str(c) for c in row] for row in rows]
    if _width_needed(headers, cells, wrap, plain) <= out.width:
        table = Table(title=escape(title) if title else None)
        if plain:
            table = Table(
                title=escape(title) if title else None,
                box=None,
                padding=(0, 1),
                pad_edge=False,
                header_style="bold",
            )
        for i, head in enumerate(headers):
            table.add_column(
                escape(head),
                justify="right" if i in right else "left",
                no_wrap=i not in wrap,
                overflow="fold",
                min_width=min(_PROSE_MIN, max(cell_len(c[i]) for c in cells))
                if i in wrap and cells
                else None,
            )
        for row in cells:
            table.add_row(*(Text(c) for c in row))
        if title and cell_len(title) > min(out.measure(table).maximum, out.width):
            # rich folds a title to the table's width, mid-path: a line of its own instead
            table.title = None
            out.print(Text(title, style="italic"), soft_wrap=True)
        out.print(table)
        return
    if title:
        out.print(Text(title, style="italic"), soft_wrap=True)
    for row in cells:
        out.print(Text(f"{headers[0]} {row[0]}" if row else "", style="bold"), soft_wrap=True)
        for head, value in zip(headers[1:], row[1:], strict=False):
            out.print(Text(f"  {head}: {value}"), soft_wrap=True)


def print_grid(out: Console, rows: Sequence[tuple[str, object]]) -> None:
    """Print ``key  value`` rows: as two aligned columns when every word of every value fits
    beside the keys at ``out.width`` (prose values wrap between words), else one
    ``key: value`` line per row, never broken by the printer (an id wider than the terminal
    stays one line to copy). Values are printed as written (never read as markup)."""
    pairs = [(str(k), str(v)) for k, v in rows]
    if not pairs:
        return
    room = out.width - max(cell_len(k) for k, _ in pairs) - 2
    longest = max((cell_len(word) for _, v in pairs for word in v.split()), default=0)
    if longest <= room:
        table = Table.grid(padding=(0, 2))
        table.add_column(no_wrap=True)
        table.add_column(overflow="fold")
        for key, value in pairs:
            table.add_row(Text(key), Text(value))
        out.print(table)
        return
    for key, value in pairs:
        out.print(Text(f"{key}: {value}"), soft_wrap=True)


def _split_row(line: str) -> list[str]:
    return [c.strip() for c in line.strip().strip("|").split("|")]


def print_markdown(out: Console, text: str) -> None:
    """Print Markdown as plain text, its pipe tables through :func:`print_table`."""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if (
            line.lstrip().startswith("|")
            and i + 1 < len(lines)
            and set(lines[i + 1].replace("|", "").strip()) <= set("-: ")
            and "-" in lines[i + 1]
        ):
            headers = _split_row(line)
            rows = []
            i += 2
            while i < len(lines) and lines[i].lstrip().startswith("|"):
                rows.append(_split_row(lines[i]))
                i += 1
            print_table(out, headers, rows)
            continue
        stripped = line.lstrip("#").strip() if line.startswith("#") else line
        out.print(Text(stripped, style="bold" if line.startswith("#") else ""), soft_wrap=True)
        i += 1
