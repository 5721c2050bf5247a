"""``mtj-hil examples DIR``: the shipped example station and campaign files, copied out."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape

from mtj_hil.cli.common import GivenPath, console
from mtj_hil.errors import StoreError, command_line
from mtj_hil.examples import example_files
from mtj_hil.fileio.atomic import atomic_write


def copy_examples(target: Path, overwrite: bool = False) -> list[Path]:
    """Copy the examples to ``target/stations`` and ``target/campaigns``; the files written.
    Each is written whole or not at all: a full disk leaves no cut-short example that a
    later command would take as complete.

    Raises:
        FileExistsError: a file of that name exists there (without ``overwrite``); nothing
            is copied then.
        OSError: a copy failed; ``exc.filename`` names the file being written.
    """
    plan = {target / rel: src for rel, src in example_files().items()}
    existing = [dst for dst in plan if dst.exists()]
    if existing and not overwrite:
        raise FileExistsError(", ".join(str(p) for p in existing))
    for dst, src in plan.items():
        dst.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(dst, src.read_bytes())
    return list(plan)


@click.command(short_help="Copy the example station and campaign files.")
@click.argument("directory", type=GivenPath(file_okay=False, path_type=Path))
@click.option("--force", is_flag=True, help="Overwrite example files already in DIRECTORY.")
def examples(directory: Path, force: bool) -> None:
    """Copy the example station files (stations/virtual-lab.toml, stations/example-bench.toml)
    and campaign files (campaigns/example-lot.toml) into DIRECTORY, keeping the two folders
    so their relative paths still hold. Works from an installed package as from the clone."""
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
