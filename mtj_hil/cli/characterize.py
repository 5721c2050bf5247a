"""``mtj-hil characterize`` and ``mtj-hil demo``: a die's characterisation into a run file,
its summary and its PNG report.

The options take their defaults from :class:`CharacterizationPlan` (one source of defaults),
and the whole plan is checked against the die before a run file exists."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click
import numpy as np
from rich.markup import escape
from rich.text import Text

from mtj_hil.cli.common import (
    GivenPath,
    array_progress,
    array_ranges,
    choose_run,
    console,
    die_options,
    given_options,
    note_run,
    open_die,
    parse_arrays,
    refuse_existing,
    spell_option,
    unfinished,
)
from mtj_hil.cli.labels import checked_label
from mtj_hil.cli.list_options import checked_by
from mtj_hil.cli.numbers import FINITE, FiniteRange
from mtj_hil.cli.resume_plan import refuse_changed_plan, stored_run
from mtj_hil.cli.run_report import draw_report, finish_report
from mtj_hil.cli.tables import make_console, print_grid, print_table
from mtj_hil.cli.view import live_option, live_view
from mtj_hil.errors import counted
from mtj_hil.protocols.characterize.plan import (
    AUTO,
    MAX_CYCLES,
    MAX_READS,
    MAX_REMEASURE_CYCLES,
    MAX_REMEASURE_ROUNDS,
    CharacterizationPlan,
    check_plan,
    check_remeasure,
    plan_from_record,
)
from mtj_hil.protocols.chip import Layout, Pulse
from mtj_hil.protocols.errors import InvalidRequest

DEFAULTS = CharacterizationPlan()
"""The library's plan defaults: the options below take theirs from it."""


@click.command(short_help="Characterise a die into a run file: maps, defects, yield.")
@die_options("characterize")
@click.option(
    "--arrays",
    default=None,
    callback=checked_by(array_ranges),
    help="Arrays to measure, e.g. '0-7,12' (default all).",
)
@click.option(
    "--cycles",
    default=DEFAULTS.cycles,
    show_default=True,
    type=click.IntRange(1, MAX_CYCLES),
    help="Write-read cycles per state (a device is stuck only if it fails every one).",
)
@click.option(
    "--reads",
    default=DEFAULTS.reads,
    show_default=True,
    type=click.IntRange(1, MAX_READS),
    help="Reads averaged per state and cycle.",
)
@click.option(
    "--read-voltage",
    default=DEFAULTS.read_voltage,
    show_default=True,
    type=FINITE,
    help="Read voltage (V) on the selected input line.",
)
@click.option(
    "--bias-voltage",
    default=None,
    type=FiniteRange(min=0.0),
    help="Second read voltage (V) for the bias signature: every state is also read at it, "
    "and the way each device's conductance changes with bias tells stuck-P from stuck-AP "
    "(and shorts, which are ohmic). Default: the die's largest read voltage if it is at "
    "least twice --read-voltage, else off; 0 turns it off.",
)
@click.option(
    "--pulse-amplitude",
    default=None,
    type=FiniteRange(min=0.0, min_open=True),
    help="Amplitude (V) of the first write pulse of each write-verify (default: the die's "
    "nominal pulse); the verify rounds rise from it to the die's largest amplitude and end "
    "at its longest width before a device is called stuck.",
)
@click.option(
    "--pulse-width",
    default=None,
    type=FiniteRange(min=0.0, min_open=True),
    help="Width (s) of the write pulses (default: the die's nominal pulse).",
)
@click.option(
    "--remeasure-cycles",
    default=DEFAULTS.remeasure_cycles,
    show_default=True,
    type=click.IntRange(0, MAX_REMEASURE_CYCLES),
    help="Extra verified write-read cycles for devices left UNCERTAIN (0 = none); at most "
    f"{100 * DEFAULTS.remeasure_budget:g} % of the devices are re-measured.",
)
@click.option(
    "--remeasure-rounds",
    default=DEFAULTS.remeasure_rounds,
    show_default=True,
    type=click.IntRange(1, MAX_REMEASURE_ROUNDS),
    help="Rounds of re-measurement at most: each round after the first gives the devices "
    "still unsettled another --remeasure-cycles.",
)
@click.option(
    "--report/--no-report",
    default=True,
    show_default=True,
    help="Write a PNG report beside the run file.",
)
@click.option(
    "--operator",
    default=None,
    callback=checked_label,
    help="Who ran it (default: the login name).",
)
@live_option
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
    pulse_amplitude: float | None,
    pulse_width: float | None,
    remeasure_cycles: int,
    remeasure_rounds: int,
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
    if finish_report(out, resume, report, "characterization"):  # the run ended; its report was lost
        return
    if not resume:  # a resumed run keeps its stored plan (compared with the options below)
        try:
            check_remeasure(
                remeasure_cycles,
                remeasure_rounds,
                given=given_options(("remeasure_rounds",)),
                spell=spell_option,
            )
        except InvalidRequest as exc:
            raise click.UsageError(str(exc)) from None

    def plan_for(layout: Layout) -> CharacterizationPlan:
        pulse = DEFAULTS.pulse
        if pulse_amplitude is not None or pulse_width is not None:
            nominal = layout.nominal_pulse
            pulse = Pulse(
                nominal.amplitude if pulse_amplitude is None else pulse_amplitude,
                nominal.width if pulse_width is None else pulse_width,
            )
        plan = CharacterizationPlan(
            arrays=parse_arrays(arrays, layout.n_arrays),
            cycles=cycles,
            reads=reads,
            read_voltage=read_voltage,
            pulse=pulse,
            remeasure_cycles=remeasure_cycles,
            remeasure_rounds=remeasure_rounds,
            bias_read_voltage=AUTO if bias_voltage is None else bias_voltage,
        ).resolved(layout)
        check_plan(layout, plan)
        return plan

    stored = None
    if resume:
        assert out is not None
        stored, layout = stored_run(out, "characterization")
        requested = {
            "arrays": None if arrays is None else parse_arrays(arrays, int(layout["n_arrays"])),
            "cycles": cycles,
            "reads": reads,
            "read_voltage": read_voltage,
            "remeasure_cycles": remeasure_cycles,
            "remeasure_rounds": remeasure_rounds,
            "bias_voltage": bias_voltage or None,
            "pulse_amplitude": pulse_amplitude,
            "pulse_width": pulse_width,
        }
        given = given_options(tuple(requested))
        # a plan without a pulse wrote with the die's nominal one (recorded in its layout,
        # except by the oldest run files)
        pulse = stored.get("pulse") or layout.get("nominal_pulse") or {}
        nominal = "the die's nominal write pulse (which this run writes with)"
        refuse_changed_plan(
            out,
            {k: requested[k] for k in given},
            {
                **stored,
                "bias_voltage": stored.get("bias_read_voltage"),
                **{f"pulse_{k}": pulse[k] for k in ("amplitude", "width") if k in pulse},
            },
            unrecorded={} if pulse else {"pulse_amplitude": nominal, "pulse_width": nominal},
        )
    source, out = choose_run(
        "characterize", profile, lot_seed, die_index, station, die_id, out, resume
    )
    with live_view(out), open_die(source) as chip:
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
            plan=plan_from_record(stored) if stored is not None else plan_for(chip.layout),
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
    note_run(out)
    if resume:
        console.print(escape(f"resuming {out} with the plan stored in it:"), soft_wrap=True)
    bias = (
        f", second read at {plan.bias_read_voltage:g} V (bias signature)"
        if plan.bias_read_voltage
        else ""
    )
    console.print(
        Text.assemble(
            ("characterising", "bold"),
            f" {die_id}: {counted(len(plan.arrays), 'array')}, "
            f"{counted(plan.cycles, 'cycle')} per state{bias} -> {out}",
        ),
        soft_wrap=True,
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
    summarise(out)
    if report:
        draw_report(out, "characterization")


def summarise(path: Path) -> None:
    """Print what ``mtj-hil show`` shows of a characterisation run file."""
    from mtj_hil.runs.store import load_characterization

    char = load_characterization(path)
    out = make_console()
    attrs = char.attrs
    rows = []
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
            rows.append((key, attrs[key]))
    plan = char.plan
    rows.append(("arrays", f"{len(char.arrays_done)} of {len(plan.get('arrays', []))} done"))
    print_grid(out, rows)
    if not char.complete:
        out.print(Text(f"not classified yet: {unfinished(path, attrs)}", style="yellow"))
        return
    assert char.codes is not None and char.g_p is not None and char.g_ap is not None
    total = char.codes.size
    rows = []
    for name, count in char.counts().items():
        rows.append((name, count, f"{100 * count / total:.2f} %"))
        if name == "OPEN" and char.resistive_open is not None and char.resistive_open.any():
            n = int(char.resistive_open.sum())
            rows.append(("  of which resistive", n, f"{100 * n / total:.2f} %"))
    print_table(out, ("class", "devices", "share"), rows, "devices by class", right=(1, 2))
    good = char.codes == 0
    if good.any():
        r_p, r_ap = 1 / char.g_p[good], 1 / char.g_ap[good]
        stats = []
        for label, values in (
            ("R_P (ohm)", r_p),
            ("R_AP (ohm)", r_ap),
            ("TMR (%)", 100 * (r_ap - r_p) / r_p),
        ):
            med = float(np.median(values))
            # (a median of 0, e.g. TMR read through a coarse converter, has no relative spread)
            spread = f"{100 * np.std(values) / abs(med):.2f} %" if med else "-"
            stats.append((label, f"{med:.4g}", spread))
        headers = ("quantity", "median", "spread (sigma/median)")
        print_table(out, headers, stats, "good devices", right=(1, 2))
    else:
        out.print(Text("good devices: none GOOD, so no R_P, R_AP or TMR", style="yellow"))
    t = char.thresholds
    if t is not None:
        out.print(
            escape(
                f"thresholds (S): state {t.state_g:.4g}, short {t.short_g:.4g}, "
                f"open {t.open_g:.4g}  [{t.method}]"
            )
        )
    if char.model:
        out.print(
            escape(
                f"uncertain devices: {char.uncertain} ({100 * char.uncertain / total:.3f} %); "
                f"read noise {100 * char.model['read_noise_ln']:.2g} % per cycle "
                f"({char.model['read_noise_source']})"
            )
        )
    bias = char.model.get("bias_signature") if char.model else None
    if bias and bias.get("used"):
        out.print(
            escape(
                f"bias signature ln(G({plan.get('bias_read_voltage')} V) / "
                f"G({plan.get('read_voltage')} V)): P {bias['p_median']:.4f}, AP "
                f"{bias['ap_median']:.4f}, short {bias['short_median']:.4f} (medians); stuck "
                f"states {bias['stuck_state_separation_sigma']:.1f} sigma apart on it"
            )
        )
    if char.remeasured.get("devices"):
        r = char.remeasured
        out.print(
            escape(
                f"re-measured {r['devices']} uncertain devices with {r['cycles']} extra cycles"
                + "".join(
                    f", then {later['devices']} of them {r['cycles']} more"
                    for later in r.get("rounds", [])[1:]
                )
                + f": {r['uncertain_after']} still uncertain"
                + _resumed_rounds(r)
            )
        )
    for warning in char.warnings:
        out.print(Text.assemble(("warning", "yellow"), f": {warning}"), highlight=False)


@click.command(short_help="Characterise a simulated die and draw its report.")
@click.option(
    "--out-dir",
    default=Path("runs/demo"),
    show_default=True,
    type=GivenPath(file_okay=False, path_type=Path),
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
    from mtj_hil.sim.chip import SimulatedChip

    stamp = datetime.now().strftime("%Y%m%d-%H%M%S")
    out = out_dir / f"demo-die{die_index}-{stamp}.h5"
    chip = SimulatedChip.from_lot("1t1r-20k", 0, die_index)
    plan = CharacterizationPlan().resolved(chip.layout)
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
        escape(
            f"simulator check: measured classes agree with the die's truth on "
            f"{100 * agree:.3f} % of devices"
        ),
        soft_wrap=True,
    )


def _resumed_rounds(record: dict) -> str:
    """What a resumed run took from its interrupted session's re-measurement (or "")."""
    text = ""
    if record.get("replayed_rounds"):
        n = record["replayed_rounds"]
        text += f" ({counted(n, 'round')} kept from before the interruption)"
    if record.get("measured_again"):
        text += " (a stored round did not fit these devices: measured again)"
    return text
