"""``mtj-hil station check FILE``: what a bench's computer sees and what each instrument says."""

from __future__ import annotations

from pathlib import Path

import click
from rich.console import Console
from rich.markup import escape

from mtj_hil.cli.common import GivenPath
from mtj_hil.cli.tables import make_console
from mtj_hil.station.check import check_station
from mtj_hil.station.envelope import envelope_notes
from mtj_hil.station.files import load_station, station_settings

__all__ = ["station"]


class StationCheckFailed(click.ClickException):
    """At least one instrument failed its check (exit code 7, as an instrument error)."""

    exit_code = 7


@click.group(short_help="Check station files before a run.")
def station() -> None:
    """Station files: check a bench before a run."""


@station.command(short_help="Check a station file without turning any output on.")
@click.argument("file", type=GivenPath(dir_okay=False, path_type=Path))
@click.option("--verbose", "-v", is_flag=True, help="Also list every setting read back.")
def check(file: Path, verbose: bool) -> None:
    """Check the station FILE without turning any output on.

    Lists the VISA resources and serial ports this computer sees, then opens each
    instrument of the station: the controller board is identified (and its die compared
    with the station's profile) and reset; each SMU is identified against its driver and
    taken through its known-state sequence (reset, source range, protection, compliance,
    current range, NPLC, mains frequency, and every setting the reset restores), every
    setting read back and the error queue drained; then it is shut down. Every channel of
    every SMU, used by the station or not, is reported as found (output, source, level) and
    made safe; a channel found with its output on is listed first (LIVE). One line per
    instrument (OK / FAIL, address, outcome, identity), then each channel as found and the
    settings that differ (all with --verbose). A note says when the safety envelope refuses
    what the commands use by default (the die's nominal write pulse, the default read
    voltage). Exit code 7 when any instrument failed, 3 for
    a bad station file.
    """
    st = load_station(file)
    out = make_console()
    print_settings(out, st)
    for note in envelope_notes(st):
        out.print(f"[yellow]note:[/] {escape(note)}", soft_wrap=True)
    with out.status("opening instruments ..."):
        result = check_station(st)
    out.print(escape(f"station {st.name} ({file}), VISA library {st.visa_library}"), soft_wrap=True)
    visa = result.visa if isinstance(result.visa, str) else ", ".join(result.visa) or "(none)"
    out.print(escape(f"VISA resources: {visa}"), soft_wrap=True)
    out.print(escape(f"serial ports: {', '.join(result.ports) or '(none)'}"), soft_wrap=True)
    for item, channel in result.live:  # a live output comes first, whatever else happened
        text = escape(f"{item.key} at {item.address}: found {channel.describe()}")
        out.print(f"[red]LIVE[/] {text}", soft_wrap=True)
    for item in result.instruments:
        mark = "[green]OK  [/]" if item.ok else "[red]FAIL[/]"  # fixed markup, no user text
        who = f" [{item.identity}]" if item.identity else ""
        text = escape(f"{item.key} at {item.address}: {item.outcome}{who}")
        out.print(f"{mark} {text}", soft_wrap=True)  # text is escaped above
    for item in result.instruments:
        for channel in item.channels:
            out.print(escape(f"     {item.key}: found {channel.describe()}"), soft_wrap=True)
        shown = item.details if verbose else [d for d in item.details if not d.startswith("ok ")]
        for line in shown:
            out.print(escape(f"     {item.key}: {line}"), soft_wrap=True)
    failed = [i.key for i in result.instruments if not i.ok]
    live = len(result.live)
    made_safe = f"; {live} live output(s) found and switched off" if live else ""
    if failed:
        raise StationCheckFailed(
            f"station check: {len(failed)} of {len(result.instruments)} instruments failed "
            f"({', '.join(failed)}); no output was turned on{made_safe}"
        )
    out.print(f"all instruments checked; no output was turned on{made_safe}", soft_wrap=True)


def _setting_text(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "(none)"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, str):
        return f'"{value}"'
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_setting_text(v) for v in value) + "]"
    return str(value)


def print_settings(out: Console, st: object) -> None:
    """Every effective setting of the station file, with where it came from."""
    rows = station_settings(st)  # type: ignore[arg-type]
    out.print(
        escape(
            f"settings ({sum(s == 'file' for *_, s in rows)} from the file, "
            f"{sum(s == 'default' for *_, s in rows)} defaults):"
        ),
        highlight=False,
    )
    for key, value, source in rows:
        line = f"  {key} = {_setting_text(value)}"
        out.print(
            escape(line) + ("" if source == "file" else "  (default)"),
            highlight=False,
            soft_wrap=True,
        )
