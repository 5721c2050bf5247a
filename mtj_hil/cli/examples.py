"""``mtj-hil examples DIR``: the shipped example station and campaign files, copied out."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from mtj_hil.cli.common import GivenPath, console
from mtj_hil.errors import StoreError, command_line


@click.command()
@click.argument("directory", type=GivenPath(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite example files already in DIRECTORY.")
def examples(directory: Path, force: bool) -> None:
    """Copy the example station files (stations/virtual-lab.toml, stations/example-bench.toml)
    and campaign files (campaigns/example-lot.toml) into DIRECTORY, keeping the two folders
    so their relative paths still hold. Works from an installed package as from the clone."""
    from mtj_hil.examples import copy_examples

    try:
        written = copy_examples(directory, overwrite=force)
    except FileExistsError as exc:
        raise StoreError(
            f"{exc} exist(s) already; choose another DIRECTORY or add --force"
        ) from exc
    for path in written:
        console.print(escape(f"wrote {path}"), soft_wrap=True)
    station = directory / "stations" / "virtual-lab.toml"
    console.print(
        escape(
            f"next: {command_line('station', 'check', station)}; "
            f"{command_line('characterize', '--station', station)}"
        ),
        soft_wrap=True,
    )
