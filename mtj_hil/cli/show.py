"""``mtj-hil show`` (a summary of any file the tool writes) and ``mtj-hil profiles``."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console

from mtj_hil.errors import StoreError


@click.command()
@click.argument("runfile", type=click.Path(dir_okay=False, path_type=Path))
def show(runfile: Path) -> None:
    """Print a summary of a run file: provenance, status and results (for a characterisation:
    yield and distributions; for a switching run: the fits, recommended pulse and read
    disturb). Files of other kinds name the command that reads them."""
    from mtj_hil.kinds import file_kind, measurement_kinds
    from mtj_hil.runs.store import RunFile

    with RunFile.open(runfile) as run:
        name = run.kind
    kind = file_kind(name)
    if kind is None:
        known = ", ".join(measurement_kinds())
        raise StoreError(f"{runfile} is a {name!r} file; 'show' summarises the kinds {known}")
    kind.piece("summary")(runfile)


@click.command()
def profiles() -> None:
    """List the shipped die profiles, one line each: geometry, resistance spread, TMR,
    short conductance, defect rate (and whole-line defects per array)."""
    from mtj_hil.sim.profile import available_profiles, load_profile

    out = Console(soft_wrap=True, highlight=False)
    for name in available_profiles():
        p = load_profile(name)
        g, r, d = p.geometry, p.resistance, p.defects
        tmr = r.r_ap_median / r.r_p_median - 1
        rate = d.short_rate + d.open_rate + d.stuck_p_rate + d.stuck_ap_rate
        lines = d.line_open_rate + d.line_short_rate
        out.print(
            f"[bold]{name:20s}[/] {g.n_arrays:2d} x {g.rows}x{g.cols} {g.cell:7s} "
            f"R spread {100 * r.r_p_sigma:4.1f} %  TMR {100 * tmr:3.0f} %  "
            f"shorts {d.short_g_median * 1e3:.2g} mS  defects {100 * rate:.1f} %"
            + (f" + {lines:g} lines/array" if lines else "")
            + f"  noise {100 * p.read.noise_rel:g} %  - {p.description}"
        )
