"""``mtj-hil show`` (a summary of any file the tool writes) and ``mtj-hil profiles``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.text import Text

from mtj_hil.cli.common import GivenPath, console
from mtj_hil.cli.tables import make_console, print_table
from mtj_hil.errors import StoreError, counted


@click.command(short_help="Summarise any file the tool writes.")
@click.argument("runfile", type=GivenPath(dir_okay=False, path_type=Path))
@click.option(
    "--verify",
    is_flag=True,
    help="Read every dataset first and check its checksum; a damaged one is named (exit 4).",
)
def show(runfile: Path, verify: bool) -> None:
    """Print a summary of any file the tool writes: a run file (provenance, status and
    results; for a characterisation yield and distributions, for a switching run the fits,
    recommended pulse and read disturb), a trained network, an experiment's results, a
    campaign index or a calibration record. Station, profile and campaign files are
    described and the command that reads them named. A run another process is writing is
    shown as far as it is flushed; one whose writer is gone is shown as interrupted, with
    the command that finishes it."""
    from mtj_hil.cli import show_files
    from mtj_hil.kinds import file_kind, measurement_kinds

    if runfile.exists() and not runfile.is_file():  # a pipe would be read for ever
        raise StoreError(f"{runfile} is not a regular file; 'show' reads files mtj-hil writes")
    kind_of_file = show_files.sniff(runfile)
    if kind_of_file == "toml":
        show_files.show_toml(runfile, named_toml=runfile.suffix.lower() == ".toml")
        return
    if kind_of_file != "hdf5":
        raise StoreError(
            f"{runfile} is not a file mtj-hil reads ({'a PNG image' if kind_of_file == 'png' else 'unknown content'}); "
            "'show' reads run files (.h5), campaign indexes and TOML files"
        )
    from mtj_hil.runs.store import RunFile
    from mtj_hil.runs.store.lease import writer_active
    from mtj_hil.runs.store.reading import file_format
    from mtj_hil.runs.store.verify import unverified_header_note

    if file_format(runfile) == "mtj-hil-campaign":
        show_files.show_campaign_index(runfile)
        return
    if verify:
        from mtj_hil.labelled.load import load_dataset, run_kind
        from mtj_hil.runs.store.verify import carries_checksums, verify_run_file

        count = verify_run_file(runfile)
        if carries_checksums(runfile):
            said = f"verified: {counted(count, 'dataset')} read, every checksum good"
        else:
            # mtj-hil 0.1 wrote no checksums: a measurement run is at least read whole, as
            # export and mtj_hil.load read it (a dataset missing or cut short is named)
            whole = run_kind(runfile)[0] in measurement_kinds()
            if whole:
                load_dataset(runfile)
            said = (
                f"verified: {counted(count, 'dataset')} read"
                + (" and the run read whole" if whole else "")
                + "; it carries no checksums (written by mtj-hil 0.1), so changed values "
                "cannot be told"
            )
        make_console().print(escape(said), soft_wrap=True)
    note = unverified_header_note(runfile)  # said on every read, not only with --verify
    if note:
        console.print(escape(note), style="yellow", soft_wrap=True)
    # whether a writer holds the run is asked before its status is read: asked after, a run
    # that completed in between read as 'running' with no writer, "interrupted"
    held_before = writer_active(runfile)
    with RunFile.open(runfile) as run:
        name, attrs, held = run.kind, run.attrs, held_before or run.held
    if attrs.get("status") != "completed":
        show_files.run_state(make_console(), attrs, held, runfile)
    kind = file_kind(name)
    if kind is not None:
        kind.piece("summary")(runfile)
    elif name == "network":
        show_files.show_network(runfile)
    elif name.startswith("experiment-"):
        show_files.show_experiment(runfile)
    else:
        known = ", ".join([*measurement_kinds(), "network", "experiment-*"])
        raise StoreError(f"{runfile} is a {name!r} file; 'show' summarises the kinds {known}")


@click.command(short_help="List the shipped die profiles.")
def profiles() -> None:
    """List the shipped die profiles: geometry, resistance spread, TMR, short conductance,
    defect rate (and whole-line defects per array), read noise."""
    from mtj_hil.sim.profile import available_profiles, load_profile, shipped_profile_path

    out = make_console(highlight=False)
    rows, notes = [], []
    for name in available_profiles():
        p = load_profile(shipped_profile_path(name))  # by its path: nothing beside it shadows
        g, r, d = p.geometry, p.resistance, p.defects
        tmr = r.r_ap_median / r.r_p_median - 1
        rate = d.short_rate + d.open_rate + d.stuck_p_rate + d.stuck_ap_rate
        rows.append(
            (
                name,
                f"{g.n_arrays}x{g.rows}x{g.cols} {g.cell}",
                f"{100 * r.r_p_sigma:.1f}%",
                f"{100 * tmr:.0f}%",
                f"{d.short_g_median * 1e3:.2g} mS",
                f"{100 * rate:.1f}%",
                f"{d.line_open_rate + d.line_short_rate:g}",
                f"{100 * p.read.noise_rel:g}%",
            )
        )
        notes.append(f"{name}: {p.description}")
    headers = ("profile", "die", "R sd", "TMR", "shorts", "defect", "lines", "noise")
    print_table(out, headers, rows, plain=True, right=(2, 3, 4, 5, 6, 7))
    out.print(
        "die: arrays x rows x cols, cell; R sd: lognormal spread of R_P; defect: devices; "
        "lines: whole-line defects per array"
    )
    for note in notes:
        out.print(Text(note))
