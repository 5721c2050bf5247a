"""The ``mtj-hil`` command: characterise dies, inspect run files, run the demo.

Errors become one readable line and a distinct exit code (see ``EXIT_CODES``); ``--debug``
shows the traceback instead.
"""

from __future__ import annotations

import sys
from datetime import datetime
from pathlib import Path

import click
import numpy as np
from rich.console import Console
from rich.markup import escape
from rich.table import Table

from mtj_hil.calibration.errors import CalibrationError
from mtj_hil.cli.common import (
    array_progress,
    choose_run,
    console,
    die_options,
    open_die,
    parse_arrays,
    refuse_existing,
)
from mtj_hil.errors import ConfigError, StoreError
from mtj_hil.instruments.errors import InstrumentError, SafetyViolation
from mtj_hil.protocols.errors import ProtocolError

EXIT_CODES: dict[type[BaseException], int] = {
    ConfigError: 3,
    StoreError: 4,
    ProtocolError: 5,
    SafetyViolation: 6,
    InstrumentError: 7,
    CalibrationError: 8,
}
"""Exit code per error family (1 = unexpected error, 2 = bad command line, 130 = Ctrl-C)."""


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx: click.Context, debug: bool) -> None:
    """Instrument control, characterisation and measurement-driven training for MTJ
    crossbar test dies. Every command runs on a simulated die by default.

    Units: volts, amperes, siemens, ohms, seconds.
    """
    ctx.obj = {"debug": debug}


@cli.command()
@die_options("characterize")
@click.option("--arrays", default=None, help="Arrays to measure, e.g. '0-7,12' (default all).")
@click.option(
    "--cycles",
    default=3,
    show_default=True,
    type=click.IntRange(1, 100),
    help="Write-read cycles per state (a device is stuck only if it fails every one).",
)
@click.option(
    "--reads",
    default=1,
    show_default=True,
    type=click.IntRange(1, 1000),
    help="Reads averaged per state and cycle.",
)
@click.option(
    "--read-voltage",
    default=0.1,
    show_default=True,
    type=float,
    help="Read voltage (V) on the selected input line.",
)
@click.option(
    "--bias-voltage",
    default=None,
    type=click.FloatRange(min=0.0),
    help="Second read voltage (V) for the bias signature: every state is also read at it, "
    "and the way each device's conductance changes with bias tells stuck-P from stuck-AP "
    "(and shorts, which are ohmic). Default: the die's largest read voltage if it is at "
    "least twice --read-voltage, else off; 0 turns it off.",
)
@click.option(
    "--remeasure-cycles",
    default=3,
    show_default=True,
    type=click.IntRange(0, 100),
    help="Extra verified write-read cycles for devices left UNCERTAIN (0 = none); at most "
    "1 % of the devices are re-measured.",
)
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="Write a PNG report beside the run file.",
)
@click.option("--operator", default=None, help="Who ran it (default: the login name).")
def characterize(
    profile: str,
    lot_seed: int,
    die_index: int | None,
    station: Path | None,
    die_id: str | None,
    out: Path | None,
    resume: bool,
    arrays: str | None,
    cycles: int,
    reads: int,
    read_voltage: float,
    bias_voltage: float | None,
    remeasure_cycles: int,
    report: bool,
    operator: str | None,
) -> None:
    """Characterise a die: resistance maps, defect map, yield; written to a run file.

    Every array is switched to P and to AP CYCLES times with write-verify and read back;
    each device is then classified GOOD / SHORT / OPEN / STUCK_P / STUCK_AP on its own
    evidence (did it switch, and where its conductance sits among distributions fitted to
    this die), with a confidence; devices the evidence cannot settle are UNCERTAIN (and are
    re-measured with --remeasure-cycles). Overlapping classes are warned about. Each state is
    also read at a second, higher voltage when the die allows it (--bias-voltage): the bias
    signature tells the state of a device that never switches. Results are flushed array by
    array: if the run is interrupted, run the same command with --resume --out FILE to finish
    it.

    Without --station the die comes from the in-process simulator; with --station the very
    same procedure drives the station's instruments (stations/virtual-lab.toml serves a
    simulated die through the real wire protocols).
    """
    from mtj_hil.protocols.characterize.procedure import CharacterizationPlan

    if resume and out is None:
        raise click.UsageError("--resume needs --out FILE: the run file to finish")

    def plan_for(layout) -> CharacterizationPlan:
        from mtj_hil.protocols.defects.bias_signature import default_bias_voltage

        if bias_voltage is None:
            v2 = default_bias_voltage(layout, read_voltage)
        else:
            v2 = bias_voltage if bias_voltage > 0 else None
        return CharacterizationPlan(
            arrays=parse_arrays(arrays, layout.n_arrays),
            cycles=cycles,
            reads=reads,
            read_voltage=read_voltage,
            remeasure_cycles=remeasure_cycles,
            bias_read_voltage=v2,
        )

    source, out = choose_run(
        "characterize", profile, lot_seed, die_index, station, die_id, out, resume
    )
    with open_die(source) as chip:
        thresholds = None
        if source.station is not None:
            from mtj_hil.station.connect import calibrated_thresholds

            thresholds = calibrated_thresholds(chip, source.die_id)
            if thresholds is not None:
                console.print("defect thresholds: from the station's calibration of this die")
        _characterize(
            chip,
            out,
            die_id=source.die_id,
            plan=plan_for(chip.layout),
            resume=resume,
            seed=source.seed,
            operator=operator,
            report=report,
            thresholds=thresholds,
        )


def _characterize(
    chip,
    out: Path,
    *,
    die_id: str,
    plan,
    resume: bool,
    seed: int | None,
    operator: str | None,
    report: bool,
    thresholds=None,
) -> None:
    from mtj_hil.runs.jobs.characterization import run_characterization

    refuse_existing(out, resume)
    bias = (
        f", second read at {plan.bias_read_voltage:g} V (bias signature)"
        if plan.bias_read_voltage
        else ""
    )
    console.print(
        f"[bold]characterising[/] {die_id}: {len(plan.arrays)} arrays, "
        f"{plan.cycles} cycles per state{bias} -> {out}"
    )
    with array_progress(len(plan.arrays)) as progress:
        run_characterization(
            chip,
            out,
            die_id=die_id,
            plan=plan,
            resume=resume,
            seed=seed,
            operator=operator,
            progress=progress,
            thresholds=thresholds,
        )
    _summarise(out)
    if report:
        from mtj_hil.reports.characterization import characterization_report
        from mtj_hil.runs.store import load_characterization

        png = characterization_report(load_characterization(out), out.with_suffix(".png"))
        console.print(f"report: {png}")


def _summarise(path: Path) -> None:
    from mtj_hil.runs.store import load_characterization

    char = load_characterization(path)
    out = Console()
    attrs = char.attrs
    meta = Table.grid(padding=(0, 2))
    for key in (
        "die_id",
        "kind",
        "status",
        "status_reason",
        "run_id",
        "started",
        "ended",
        "operator",
        "package_version",
        "git_revision",
    ):
        if attrs.get(key):
            meta.add_row(key, str(attrs[key]))
    plan = char.plan
    meta.add_row("arrays", f"{len(char.arrays_done)} of {len(plan.get('arrays', []))} done")
    out.print(meta)
    if not char.complete:
        out.print("[yellow]not classified yet: resume the run to finish it[/]")
        return
    assert char.codes is not None and char.g_p is not None and char.g_ap is not None
    table = Table(title="devices by class")
    table.add_column("class")
    table.add_column("devices", justify="right")
    table.add_column("share", justify="right")
    total = char.codes.size
    for name, count in char.counts().items():
        table.add_row(name, str(count), f"{100 * count / total:.2f} %")
    out.print(table)
    good = char.codes == 0
    r_p, r_ap = 1 / char.g_p[good], 1 / char.g_ap[good]
    stats = Table(title="good devices")
    stats.add_column("quantity")
    stats.add_column("median", justify="right")
    stats.add_column("spread (sigma/median)", justify="right")
    for label, values in (
        ("R_P (ohm)", r_p),
        ("R_AP (ohm)", r_ap),
        ("TMR (%)", 100 * (r_ap - r_p) / r_p),
    ):
        med = float(np.median(values))
        stats.add_row(label, f"{med:.4g}", f"{100 * np.std(values) / abs(med):.2f} %")
    out.print(stats)
    t = char.thresholds
    if t is not None:
        out.print(
            f"thresholds (S): state {t.state_g:.4g}, short {t.short_g:.4g}, "
            f"open {t.open_g:.4g}  " + escape(f"[{t.method}]")
        )
    if char.model:
        out.print(
            f"uncertain devices: {char.uncertain} ({100 * char.uncertain / total:.3f} %); "
            f"read noise {100 * char.model['read_noise_ln']:.2g} % per cycle "
            f"({char.model['read_noise_source']})"
        )
    bias = char.model.get("bias_signature") if char.model else None
    if bias and bias.get("used"):
        out.print(
            f"bias signature ln(G({plan.get('bias_read_voltage')} V) / "
            f"G({plan.get('read_voltage')} V)): P {bias['p_median']:.4f}, AP "
            f"{bias['ap_median']:.4f}, short {bias['short_median']:.4f} (medians); stuck "
            f"states {bias['stuck_state_separation_sigma']:.1f} sigma apart on it"
        )
    if char.remeasured.get("devices"):
        r = char.remeasured
        out.print(
            f"re-measured {r['devices']} uncertain devices with {r['cycles']} extra cycles: "
            f"{r['uncertain_after']} still uncertain"
        )
    for warning in char.warnings:
        out.print(f"[yellow]warning[/]: {warning}", highlight=False)


@cli.command()
@click.argument("runfile", type=click.Path(dir_okay=False, path_type=Path))
def show(runfile: Path) -> None:
    """Print a summary of a run file: provenance, status, yield, distributions (or, for a
    switching run, the fits, recommended pulse and read disturb)."""
    from mtj_hil.runs.store import RunFile

    with RunFile.open(runfile) as run:
        kind = run.kind
    if kind == "switching":
        from mtj_hil.cli.switching import summarise_switching

        return summarise_switching(runfile)
    if kind != "characterization":
        raise StoreError(
            f"{runfile} is a {kind!r} run; 'show' summarises characterization and switching runs"
        )
    _summarise(runfile)


@cli.command()
@click.option(
    "--out-dir",
    default=Path("runs/demo"),
    show_default=True,
    type=click.Path(file_okay=False, path_type=Path),
    help="Folder for the demo's run file and report.",
)
@click.option(
    "--die",
    "die_index",
    default=7,
    show_default=True,
    type=click.IntRange(min=0),
    help="Die of simulated lot 0 to characterise.",
)
def demo(out_dir: Path, die_index: int) -> None:
    """Characterise a simulated 20,000-device die and draw its report (a few seconds)."""
    from mtj_hil.protocols.characterize.procedure import CharacterizationPlan
    from mtj_hil.sim.chip import SimulatedChip

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = out_dir / f"demo-die{die_index}-{stamp}.h5"
    chip = SimulatedChip.from_lot("1t1r-20k", 0, die_index)
    plan = CharacterizationPlan(arrays=tuple(range(chip.layout.n_arrays)))
    _characterize(
        chip,
        out,
        die_id=f"sim:1t1r-20k:lot0:die{die_index}",
        plan=plan,
        resume=False,
        seed=0,
        operator=None,
        report=True,
    )
    truth = chip.die.defect
    from mtj_hil.runs.store import load_characterization

    found = load_characterization(out).codes
    agree = float(np.mean(found == truth))
    console.print(
        f"simulator check: measured classes agree with the die's truth on "
        f"{100 * agree:.3f} % of devices"
    )


@cli.group()
def lab() -> None:
    """The virtual lab: simulated dies behind virtual instruments on loopback sockets."""


@lab.command()
@click.option(
    "--station",
    type=click.Path(dir_okay=False, path_type=Path),
    default=Path("stations/virtual-lab.toml"),
    show_default=True,
    help="Station file whose [virtual_lab] section names the die to serve.",
)
@click.option(
    "--write-station",
    type=click.Path(dir_okay=False, path_type=Path),
    default=None,
    help="Also write a station file with the live addresses here.",
)
@click.option(
    "--seconds",
    type=float,
    default=None,
    help="Stop after this many seconds (default: run until Ctrl-C).",
)
@click.option(
    "--smu-dialect",
    type=click.Choice(["keithley2400", "keithley2450", "keithley2600", "keysight_b2900"]),
    default=None,
    help="Which SMU to serve (default: the driver of the station's sense SMU, else keithley2400).",
)
@click.option(
    "--smu-start",
    default=None,
    help="State the SMU is found in, e.g. power-on, output-on, last-user, tsp-language "
    "(default: the station's [virtual_lab] smu_start, else power-on).",
)
def serve(
    station: Path,
    write_station: Path | None,
    seconds: float | None,
    smu_dialect: str | None,
    smu_start: str | None,
) -> None:
    """Serve the station's die through a virtual controller board and SMU (loopback only).

    Prints the pyserial URL of the board and the VISA resource of the SMU; point a station
    file at them (or use --write-station) and run any command with --station. The SMU speaks
    the dialect of the station's sense SMU driver unless --smu-dialect names another.
    """
    import time

    from mtj_hil.station.config import load_station
    from mtj_hil.station.connect import station_virtual_lab

    st = load_station(station)
    cfg = st.virtual_lab
    if cfg is None:
        raise ConfigError(f"{station}: has no [virtual_lab] section naming the die to serve")
    sense = st.smu("sense")
    dialect = smu_dialect or (sense.driver if sense else "keithley2400")
    start = smu_start or cfg.smu_start
    try:
        lab_obj = station_virtual_lab(
            st,
            smu_dialect=dialect,
            smu_start=start,
            smu_channel=sense.channel if sense and sense.driver == dialect else None,
        )
    except ValueError as exc:
        raise ConfigError(f"lab serve: {exc}") from exc
    with lab_obj as running:
        console.print(f"serving {running.die_id}")
        console.print(f"  controller board: {running.controller_url}")
        console.print(f"  SMU ({dialect}, {start}): {running.smu_resource}")
        if write_station is not None:
            text = station.read_text()
            text = text.replace('url = "virtual"', f'url = "{running.controller_url}"')
            text = text.replace('resource = "virtual"', f'resource = "{running.smu_resource}"')
            write_station.write_text(text)
            console.print(f"  station file:     {write_station}")
        console.print("Ctrl-C stops the lab")
        deadline = None if seconds is None else time.monotonic() + seconds
        while deadline is None or time.monotonic() < deadline:
            time.sleep(0.2)
        console.print(
            f"modelled lab time {running.clock.now:.1f} s, "
            f"{running.clock.transactions} transactions"
        )


@cli.command()
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


def _register_commands() -> None:
    from mtj_hil.cli.calibration import calibrate, calibration
    from mtj_hil.cli.campaign import campaign
    from mtj_hil.cli.experiments import evaluate, experiment, train
    from mtj_hil.cli.station import station
    from mtj_hil.cli.switching import fit_profile_command, switching

    for command in (
        experiment,
        train,
        evaluate,
        calibrate,
        calibration,
        campaign,
        station,
        switching,
        fit_profile_command,
    ):
        cli.add_command(command)


_register_commands()


def main(argv: list[str] | None = None) -> int:
    """Entry point: run the CLI and map errors to one line and an exit code."""
    debug = "--debug" in (argv if argv is not None else sys.argv[1:])
    try:
        cli.main(args=argv, prog_name="mtj-hil", standalone_mode=False)
    except click.exceptions.Abort:
        console.print("[red]interrupted[/]")
        return 130
    except KeyboardInterrupt:
        console.print(
            "[red]interrupted[/]: the run file (if any) is marked aborted; finish it with --resume"
        )
        return 130
    except click.ClickException as exc:
        exc.show()
        return exc.exit_code
    except Exception as exc:
        if debug:
            raise
        code = next((c for t, c in EXIT_CODES.items() if isinstance(exc, t)), 1)
        name = type(exc).__name__
        console.print(f"[red]error[/] ({name}): {exc}", highlight=False, soft_wrap=True)
        return code
    return 0


if __name__ == "__main__":
    sys.exit(main())
