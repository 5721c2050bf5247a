"""Tables and grids are laid out by the cells text takes on the terminal, not by its
characters: a die id in Chinese or Japanese takes two cells a letter."""

from __future__ import annotations

import io

import pytest
from rich.cells import cell_len
from rich.console import Console

from mtj_hil.cli.tables import print_grid, print_table

WIDE_ID = "晶圆批次-第一片"  # 8 characters, 16 cells


def _printed(width: int, draw) -> list[str]:  # noqa: ANN001
    out = io.StringIO()
    draw(Console(file=out, width=width, color_system=None, legacy_windows=False))
    return out.getvalue().splitlines()


@pytest.mark.parametrize("width", [22, 25, 27])
def test_a_wide_id_in_a_table_is_never_broken(width):
    """A table as wide as the id's characters but not its cells was drawn boxed, and
    rich folded the id over two lines (a die id a technician copies)."""
    lines = _printed(width, lambda c: print_table(c, ["die", "yield"], [[WIDE_ID, "0.99"]]))
    assert any(WIDE_ID in line for line in lines), lines
    assert all(cell_len(line) <= width for line in lines), lines


@pytest.mark.parametrize("width", [13, 16, 20])
def test_a_wide_value_in_a_grid_is_never_broken(width):
    """The same for the ``key  value`` grid of ``show``."""
    lines = _printed(width, lambda c: print_grid(c, [("die", WIDE_ID), ("n", "3")]))
    assert any(WIDE_ID in line for line in lines), lines
