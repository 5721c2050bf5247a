"""``mtj-hil fit-profile``: a die profile fitted from measured runs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.text import Text

from mtj_hil.cli.common import GivenPath, console
from mtj_hil.cli.tables import make_console, print_table
from mtj_hil.errors import ConfigError, StoreError, counted, shell_word


@click.command("fit-profile", short_help="Fit a die profile from measured runs.")
@click.argument("runs", nargs=-1, required=True, type=GivenPath(dir_okay=False, path_type=Path))
@click.option(
    "-o",
    "--out",
    required=True,
    type=GivenPath(dir_okay=False, path_type=Path),
    help="Profile TOML to write.",
)
@click.option(
    "--base",
    default="1t1r-20k",
    show_default=True,
    help="Profile whose values stand for what the runs cannot tell (each listed as a default).",
)
@click.option("--name", default=None, help="Name of the fitted profile (default: the file stem).")
@click.option("--force", is_flag=True, help="Overwrite an existing output file.")
def fit_profile_command(
    runs: tuple[Path, ...], out: Path, base: str, name: str | None, force: bool
) -> None:
    """Fit a die profile from measured runs (characterisation runs of one or many dies, and
    switching runs where present).

    Fitted: R_P / R_AP medians at zero bias (through each device's bias signature where a
    second read voltage was read, else the base's [bias] law, else stated at the read
    voltage), spreads, correlation, TMR, device populations or a skewed law, the [bias] law,
    defect rates per class (UNCERTAIN devices apportioned by posterior) and their die-to-die
    spread, whole-open and shorted lines, dead arrays, resistive opens, short conductances,
    read noise (robust), sense offsets, switching Vc0 / Delta / spread and the write-error
    floor. Every value is written with its uncertainty and source runs; what the runs cannot
    tell keeps the --base profile's value and is listed as a default. Goodness-of-fit checks
    (shape, TMR tail, spatial clustering, die-to-die and array-to-array homogeneity, read-
    noise tail, write failures) warn, naming the check, the parameter and the runs. Runs read
    at different voltages are pooled only if each read at a second voltage too, else
    refused. The output loads like any profile: --profile FILE.
    """
    from mtj_hil.fileio.paths import is_one_of
    from mtj_hil.fileio.writable import check_writable_place
    from mtj_hil.labelled.outputs import refuse_special
    from mtj_hil.profile_fit.fit import fit_profile
    from mtj_hil.profile_fit.writer import write_profile_toml
    from mtj_hil.runs.store.select import finished_runs, skipped_note
    from mtj_hil.runs.store.sniff import holds_hdf5
    from mtj_hil.sim.profile import is_shipped_profile, load_profile

    if is_one_of(out, runs):  # by file identity: a hard link or a second mount too
        raise StoreError(f"{out} is one of the runs to fit; choose another -o (not even --force)")
    refuse_special(out, "-o")
    if out.exists() and not force:
        raise StoreError(f"{out} already exists; choose another -o or add --force")
    if holds_hdf5(out):  # a run file or an export: a TOML profile never replaces one
        raise StoreError(
            f"{out} is an HDF5 file (a run file or an export); -o writes a TOML profile: "
            "choose another -o (--force does not replace measurements)"
        )
    usable, skipped = finished_runs(runs, ("characterization", "switching"))
    if skipped:
        console.print(Text(skipped_note(skipped), style="yellow"), soft_wrap=True)
    if not usable:
        raise StoreError(f"no finished run among the {len(runs)} given; nothing to fit")
    runs = tuple(usable)
    from mtj_hil.runs.store.verify import unverified_header_note

    for run in runs:  # its die id and plan go into the profile's sources
        note = unverified_header_note(run)
        if note:
            console.print(Text(note, style="yellow"), soft_wrap=True)
    try:
        base_profile = load_profile(base)
    except ConfigError as exc:
        raise ConfigError(f"--base {base!r}: {exc}") from exc
    check_writable_place(out)  # a parent that is a file: named as such, not "File exists"
    fitted = fit_profile(list(runs), base_profile, name=name or out.stem)
    write_profile_toml(fitted, out)
    prof = load_profile(out)
    rows = [
        (key, f"{item.value:.5g}", f"{item.sd:.2g}" if item.sd is not None else "", item.source)
        for key, item in fitted.values.items()
    ]
    print_table(
        make_console(),
        ("key", "value", "uncertainty", "source"),
        rows,
        f"fitted profile {prof.name} ({counted(len(runs), 'run')})",
        wrap=(3,),
    )
    if fitted.defaults:
        console.print(
            escape(
                "kept at the base profile's value (runs cannot tell): " + ", ".join(fitted.defaults)
            ),
            soft_wrap=True,
        )
    for warning in fitted.warnings:
        console.print(Text.assemble(("warning", "yellow"), f": {warning}"), soft_wrap=True)
    # as typed in a shell ('my fit.toml' quoted); a shipped profile's name as a path
    loads = f"--profile {shell_word(f'./{out}' if is_shipped_profile(str(out)) else out)}"
    console.print(escape(f"wrote {out} (loads with {loads})"), soft_wrap=True)
