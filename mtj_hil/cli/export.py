"""``mtj-hil export``: a finished run (or a campaign group) as NetCDF, CSV tables or NeXus."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
from rich.markup import escape

from mtj_hil.cli.common import GivenPath, console
from mtj_hil.errors import command_line


@click.command(short_help="Export a run or a campaign's results: NetCDF, CSV, NeXus.")
@click.argument("run", type=GivenPath(dir_okay=False, path_type=Path))
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["netcdf", "csv", "nexus"]),
    required=True,
    help="netcdf: the labelled dataset (xarray.open_dataset, ncdump, Panoply...); csv: one "
    "table per set of dimensions, for spreadsheets; nexus: a copy of the run file with the "
    "NeXus structure (for files written before run files carried it).",
)
@click.option(
    "--out",
    type=GivenPath(path_type=Path),
    default=None,
    help="Output file (csv: a folder). Default: beside RUN as RUN.nc, RUN-csv/ or RUN.nxs; "
    "for a campaign file, in its out_dir as <campaign>-<group>.nc or <campaign>-<group>-csv/.",
)
@click.option("--force", is_flag=True, help="Overwrite an existing output.")
@click.option(
    "--group",
    default=None,
    help="With a campaign file as RUN: the task group to export as one dataset over dies "
    "(default: the first characterize group).",
)
def export(run: Path, fmt: str, out: Path | None, force: bool, group: str | None) -> None:
    """Export the finished run file RUN, or the results of a campaign (RUN a campaign file,
    .toml) as one dataset over dies.

    Units are SI and carried as CF attributes (units, long_name); the run's provenance goes
    along as global attributes. An existing output is never overwritten without --force;
    an unfinished run is refused with the command that finishes it.
    """
    from mtj_hil.labelled.export import export_run, write_dataset
    from mtj_hil.labelled.outputs import check_target
    from mtj_hil.runs.store.sniff import is_campaign_path

    if is_campaign_path(run):
        from mtj_hil.campaigns import load_campaign
        from mtj_hil.campaigns.dataset import campaign_dataset

        if fmt == "nexus":
            raise click.UsageError("--format nexus exports one run file, not a campaign")
        spec = load_campaign(run)
        ds = campaign_dataset(spec, group)
        name = f"{spec.name}-{ds.attrs['group']}"
        target = out or spec.out_dir / (f"{name}.nc" if fmt == "netcdf" else f"{name}-csv")
        inputs = [spec.file, spec.index_path, *(t.run_file for t in spec.tasks)]
        what = "the campaign file, its index or one of its run files"
        if fmt == "netcdf":  # a CSV folder that exists is write_csv's to judge
            check_target(target, inputs, what, force=force)
        written = write_dataset(ds, fmt, target, force=force)
        _say_what_is_missing(ds, run)
    else:
        if group is not None:
            raise click.UsageError(
                f"--group {group} picks a task group of a campaign file (.toml); {run} is a "
                "run file, exported whole (leave --group out)"
            )
        from mtj_hil.runs.store.verify import unverified_header_note

        written = export_run(run, fmt, out, force=force)
        note = unverified_header_note(run)
        if note:
            console.print(escape(note), style="yellow", soft_wrap=True)
    for path in written:
        console.print(escape(f"wrote {path}"), highlight=False, soft_wrap=True)


def _say_what_is_missing(ds: Any, campaign: Path) -> None:
    """Warn when a campaign's export holds fewer dies than its group has (tasks unfinished,
    or measured with settings since changed), and when the campaign is still running."""
    import json

    missing = json.loads(ds.attrs.get("missing", "[]"))
    if not missing:
        return
    expected = int(ds.attrs.get("dies_expected", ds.sizes["die"] + len(missing)))
    running = (
        "the campaign is still running: export again when it ends "
        f"({command_line('campaign', 'status', campaign)})"
        if ds.attrs.get("campaign_running")
        else "their tasks are not finished (or were measured with settings since changed)"
    )
    console.print(
        escape(
            f"warning: {ds.sizes['die']} of {expected} dies exported; {len(missing)} missing "
            f"({', '.join(missing[:5])}{', ...' if len(missing) > 5 else ''}): {running}"
        ),
        style="yellow",
        soft_wrap=True,
        highlight=False,
    )
