"""``mtj-hil switching`` (switching characterisation) and the summary ``mtj-hil show`` prints
for switching runs."""

from __future__ import annotations

from pathlib import Path

import click
from rich.markup import escape
from rich.text import Text

from mtj_hil.cli.common import (
    array_progress,
    array_ranges,
    choose_run,
    console,
    die_options,
    given_options,
    open_die,
    spell_option,
    unfinished,
)
from mtj_hil.cli.labels import checked_label
from mtj_hil.cli.list_options import checked_by
from mtj_hil.cli.numbers import FINITE, FiniteRange
from mtj_hil.cli.resume_plan import refuse_changed_plan, stored_run
from mtj_hil.cli.run_report import draw_report, finish_report
from mtj_hil.cli.switching_options import (
    DEFAULTS,
    UNRECORDED,
    given_settings,
    parse_floats,
    placement_and_decision_options,
)
from mtj_hil.cli.tables import make_console, print_grid, print_table
from mtj_hil.cli.view import live_option, live_view
from mtj_hil.errors import ConfigError, counted
from mtj_hil.protocols.switching.procedure import (
    MAX_DISTURB_READS,
    MAX_TARGET_WER,
    MAX_TAU0,
    MAX_TRIALS,
)


def parse_devices(text: str | None) -> tuple[tuple[int, int, int], ...]:
    """Parse R-V loop devices ``"0:1:1,3:4:20"`` (array:row:col).

    Raises:
        ConfigError: malformed text.
    """
    if text is None:
        return ()
    try:
        out = []
        for part in text.split(","):
            fields = part.strip().split(":")
            if len(fields) != 3 or not all(
                f.strip().isascii() and f.strip().isdigit() for f in fields
            ):
                raise ValueError(part)
            out.append(tuple(int(f) for f in fields))
    except ValueError as exc:
        raise ConfigError(f"--loop-devices {text!r} is not a list like '0:1:1,3:4:20'") from exc
    twice = sorted({d for d in out if out.count(d) > 1})
    if twice:
        shown = ", ".join(":".join(map(str, d)) for d in twice)
        raise ConfigError(f"--loop-devices {text!r} names {shown} twice; give each device once")
    return tuple(out)  # type: ignore[return-value]


def _probe_trials(trials: int, probe_trials: int, adaptive: bool, placement: str) -> int:
    """The plan's probe trials from the options typed (``probe_trials_for``).

    Raises:
        click.UsageError: an option the plan would not use, or --probe-trials above --trials.
    """
    from mtj_hil.protocols.switching.settings import SettingRefused, probe_trials_for

    given = given_options(("trials", "probe_trials", "adaptive"))
    try:
        return probe_trials_for(
            trials,
            probe_trials if "probe_trials" in given else None,
            adaptive=adaptive,
            placement=placement,
            given=given,
            spell=spell_option,
        )
    except SettingRefused as exc:
        raise click.UsageError(str(exc)) from None


@click.command(short_help="Measure P(switch) against pulse amplitude and width.")
@die_options("switching")
@click.option(
    "--arrays",
    default=None,
    callback=checked_by(array_ranges),
    help="Arrays to measure, e.g. '0,3-5' (default all).",
)
@click.option(
    "--widths",
    default=None,
    callback=checked_by(lambda text: parse_floats(text, "--widths")),
    help="Pulse widths (s): a list like '1e-8,1e-7,1e-6' or start:stop:step (default: 3 decades).",
)
@click.option(
    "--amplitudes",
    default=None,
    callback=checked_by(lambda text: parse_floats(text, "--amplitudes")),
    help="Pulse amplitudes (V): a list or start:stop:step (default: 40 % of nominal .. max).",
)
@click.option(
    "--trials",
    default=DEFAULTS.trials,
    show_default=True,
    type=click.IntRange(1, MAX_TRIALS),
    help="Trials per device at each grid point (the full budget).",
)
@click.option(
    "--probe-trials",
    default=DEFAULTS.probe_trials,
    show_default=True,
    type=click.IntRange(1, MAX_TRIALS),
    help="Trials first spent at each point (adaptive placement; at most --trials, and "
    "refused with --no-adaptive, which spends --trials at every point). Without it: "
    f"{DEFAULTS.probe_trials}, or --trials if fewer.",
)
@click.option(
    "--adaptive/--no-adaptive",
    default=DEFAULTS.adaptive,
    show_default=True,
    help="Spend full trials only where devices are in their transition; stop a sweep once "
    "every device switches.",
)
@click.option(
    "--floor-trials",
    default=DEFAULTS.floor_trials,
    show_default=True,
    type=click.IntRange(0, MAX_TRIALS),
    help="Trials per sweep set aside to measure the write-error floor.",
)
@click.option(
    "--disturb-reads",
    default=DEFAULTS.disturb_reads,
    show_default=True,
    type=click.IntRange(0, MAX_DISTURB_READS),
    help="Reads per device at the largest read voltage (read disturb); 0 skips it.",
)
@click.option(
    "--placement",
    type=click.Choice(["grid", "information"]),
    default=DEFAULTS.placement,
    show_default=True,
    help="'grid': the amplitude sweeps at every width; 'information': after a short sweep, "
    "each batch of trials goes to the pulse that tells most about Vc0 and Delta, and a "
    "direction stops once its devices reach the stated precision (it takes no --trials or "
    "--adaptive).",
)
@click.option(
    "--loop-devices",
    default=None,
    callback=checked_by(parse_devices),
    help="Pulsed R-V loops on array:row:col,...",
)
@click.option(
    "--read-voltage",
    default=DEFAULTS.read_voltage,
    show_default=True,
    type=FINITE,
    help="Read voltage (V) of the state reads (at most the die's or station's largest read "
    "voltage).",
)
@click.option(
    "--target-wer",
    default=DEFAULTS.target_wer,
    show_default=True,
    type=FiniteRange(0, MAX_TARGET_WER, min_open=True, max_open=True),
    help="Write-error rate the recommended pulse must reach.",
)
@click.option(
    "--tau0",
    default=DEFAULTS.tau0,
    show_default=True,
    type=FiniteRange(0, MAX_TAU0, min_open=True, max_open=True),
    help="Attempt time (s) the fit assumes.",
)
@placement_and_decision_options
@click.option("--report/--no-report", default=True, show_default=True, help="PNG report.")
@click.option(
    "--operator",
    default=None,
    callback=checked_label,
    help="Who ran it (default: the login name).",
)
@live_option
def switching(
    profile: str,
    lot_seed: int,
    die_index: int | None,
    station: Path | None,
    die_id: str | None,
    out: Path | None,
    resume: bool,
    arrays: str | None,
    widths: str | None,
    amplitudes: str | None,
    trials: int,
    probe_trials: int,
    adaptive: bool,
    floor_trials: int,
    disturb_reads: int,
    placement: str,
    loop_devices: str | None,
    read_voltage: float,
    target_wer: float,
    tau0: float,
    report: bool,
    operator: str | None,
    **settings: float,
) -> None:
    """Switching characterisation: P(switch) against pulse amplitude and width, per device.

    For every width and both directions, amplitudes are swept upwards; at each point every
    device of the array gets TRIALS trials (start state written with verify, one pulse, one
    read), all devices at once. Each device's critical voltage Vc0 and thermal stability
    Delta are fitted with uncertainties; the die's write-error rate is extrapolated and a
    pulse reaching --target-wer inside the safety envelope is recommended (or the report
    says none does). Read disturb and pulsed R-V loops are measured too. Results are flushed
    array by array; an interrupted run finishes with --resume --out FILE.
    """
    from mtj_hil.cli.common import parse_arrays
    from mtj_hil.protocols.switching.procedure import (
        SwitchingPlan,
        check_plan,
        default_amplitudes,
        default_widths,
    )
    from mtj_hil.runs.jobs.switching import run_switching

    if finish_report(out, resume, report, "switching"):  # the run ended; its report was lost
        return
    try:
        probe = _probe_trials(trials, probe_trials, adaptive, placement)
    except click.UsageError:
        if not resume:
            raise
        # a run started before these were refused recorded its own command line with
        # them, and its plan with probe trials capped to the trials: the stored plan decides
        probe = min(probe_trials, trials)
    chosen = given_settings(settings, placement)
    amps = parse_floats(amplitudes, "--amplitudes")
    wids = parse_floats(widths, "--widths")
    loops = parse_devices(loop_devices)

    def plan_for(layout) -> SwitchingPlan:
        return SwitchingPlan(
            arrays=parse_arrays(arrays, layout.n_arrays),
            amplitudes=amps or default_amplitudes(layout),
            widths=wids or default_widths(layout),
            trials=trials,
            probe_trials=probe,
            adaptive=adaptive,
            floor_trials=floor_trials,
            disturb_reads=disturb_reads,
            placement=placement,
            loop_devices=loops,
            read_voltage=read_voltage,
            tau0=tau0,
            target_wer=target_wer,
            **settings,
        )

    stored = None
    if resume:
        assert out is not None
        from mtj_hil.runs.jobs.switching import plan_from_record

        stored, layout = stored_run(out, "switching")
        requested = {
            "arrays": None if arrays is None else parse_arrays(arrays, int(layout["n_arrays"])),
            "widths": wids,
            "amplitudes": amps,
            "trials": trials,
            "probe_trials": probe,
            "adaptive": adaptive,
            "floor_trials": floor_trials,
            "disturb_reads": disturb_reads,
            "placement": placement,
            "loop_devices": [list(d) for d in loops],
            "read_voltage": read_voltage,
            "target_wer": target_wer,
            "tau0": tau0,
            **chosen,
        }
        if stored.get("probe_trials") == min(probe_trials, trials):
            requested["probe_trials"] = stored["probe_trials"]  # capped as runs once were
        given = [*given_options(tuple(requested)), *chosen]
        refuse_changed_plan(out, {k: requested[k] for k in given}, stored, UNRECORDED)
    source, target = choose_run(
        "switching", profile, lot_seed, die_index, station, die_id, out, resume
    )
    with live_view(target), open_die(source) as chip:
        if stored is not None:
            plan = plan_from_record(stored)
            console.print(escape(f"resuming {target} with the plan stored in it:"), soft_wrap=True)
        else:
            plan = plan_for(chip.layout)
        check_plan(chip.layout, plan)  # refused before the header and the progress bar
        console.print(
            Text.assemble(
                ("switching", "bold"),
                f" {source.die_id}: {counted(len(plan.arrays), 'array')}, "
                f"{counted(len(plan.widths), 'width')}, "
                f"{counted(len(plan.amplitudes), 'amplitude')} -> {target}",
            ),
            soft_wrap=True,
        )
        with array_progress(len(plan.arrays)) as progress:
            run_switching(
                chip,
                target,
                die_id=source.die_id,
                plan=plan,
                resume=resume,
                seed=source.seed,
                operator=operator,
                progress=progress,
            )
        summarise_switching(target)
        if report:
            draw_report(target, "switching")


def _spread(pop: dict, name: str) -> str:
    """Device spread (percent) with its uncertainty; runs fitted before the uncertainty
    was recorded show the value alone."""
    value = pop.get(f"{name}_sigma_rel")
    if value is None:
        return "-"
    sd = pop.get(f"{name}_sigma_rel_sd")
    return f"{100 * value:.1f} %" + (f" +- {100 * sd:.1f}" if sd is not None else "")


def state_reads(data: dict) -> str:
    """How each array's trials read states (its decision rule, ``ArraySwitching.decision``):
    decisions at which integrations, cells left out and why, precision reads and why; empty
    when no array tried a rule (precision reads throughout)."""
    parts = []
    for a, d in sorted((a, x.decision) for a, x in data.items() if x.decision):
        if d.get("integration"):
            text = f"array {a}: decisions at {1e6 * d['integration']:.0f} us"
            if d.get("thresholds") == "per device":
                text += " (each device by its own threshold)"
            if d.get("standard") == "precision margin":
                text += (
                    f", kept cells held to the precision margin (no integration reads all but "
                    f"{d.get('allowed', 0)} cells within {d['bound']:.0e}; "
                    f"{d.get('unserved', 0)} cells none reads)"
                )
        else:
            text = f"array {a}: precision reads ({d.get('unserved', 0)} cells no decision "
            text += f"integration reads within {d['bound']:.0e}, at most {d.get('allowed', 0)} "
            text += "may be left out"
            if d.get("thresholds", "die") == "die":
                text += "; judged by the die's one threshold: a board with threshold maps, "
                text += "firmware 1.4, judges each device by its own"
            text += ")"
        if d.get("left_out"):
            why = ", ".join(f"{k} {n}" for k, n in d.get("why", {}).items())
            cells = " ".join(f"{r}:{c}" for r, c in d["left_out"][:8])
            more = " ..." if len(d["left_out"]) > 8 else ""
            text += (
                f", {counted(len(d['left_out']), 'cell')} left out ({why}; row:col {cells}{more})"
            )
        parts.append(text)
    return "; ".join(parts)


def summarise_switching(path: Path) -> None:
    """Print a switching run's provenance, fits, recommendation and read disturb."""
    from mtj_hil.protocols.switching.fit import STATUS_FEW_TRIALS
    from mtj_hil.runs.store.switching import load_switching

    run = load_switching(path)
    out = make_console()
    rows = [
        (key, run.attrs[key])
        for key in ("die_id", "kind", "status", "status_reason", "run_id", "started", "ended")
        if run.attrs.get(key)
    ]
    rows.append(("arrays", f"{len(run.arrays_done)} of {len(run.plan.get('arrays', []))} done"))
    n_trials = sum(int(d.trials.sum()) for d in run.data.values())
    rows.append(("device trials", f"{n_trials:,}"))
    reads = state_reads(run.data)
    if reads:
        rows.append(("state reads", reads))
    print_grid(out, rows)
    an = run.analysis
    if an is None:
        out.print(Text(f"not fitted yet: {unfinished(path, run.attrs)}", style="yellow"))
        return
    quantities = (
        "Vc0 (V)",
        "Vc0 spread",
        "Delta",
        "Delta spread",
        "devices fitted",
        "few trials",
        "never switched",
        "WER floor (90 %)",
    )
    columns: list[list[str]] = []
    for fit in an.directions.values():
        pop, fl = fit.population, fit.floor
        if pop.get("n"):
            values = [
                f"{pop['vc']:.4g} +- {pop['vc_sd']:.2g}",
                _spread(pop, "vc"),
                f"{pop['delta']:.3g} +- {pop['delta_sd']:.2g}",
                _spread(pop, "delta"),
            ]
        else:
            values = ["-", "-", "-", "-"]
        values += [
            str(pop.get("n", 0)),
            str(int((fit.status == STATUS_FEW_TRIALS).sum())),
            str(fit.never_switched),
            f"{fl.value:.2g} ({fl.low:.2g}..{fl.high:.2g})"
            if fl.trials
            else "not measured (--floor-trials 0)",
        ]
        columns.append(values)
    rows = [[q, *(c[i] for c in columns)] for i, q in enumerate(quantities)]
    print_table(
        out,
        ["", *(f"to {name}" for name in an.directions)],
        rows,
        f"thermal activation (tau0 assumed {an.tau0:g} s)",
    )
    rec = an.recommendation
    colour = "green" if rec.found else "yellow"
    out.print(Text.assemble((f"pulse for WER {rec.target:.0e}:", colour), f" {rec.statement}"))
    d = an.disturb
    if not d.get("reads_per_device"):
        out.print("read disturb: not measured (--disturb-reads 0)")
        return
    out.print(
        escape(
            f"read disturb ({counted(d['reads_per_device'], 'read')} at {d['voltage']:g} V per "
            f"device): {counted(d['from_p']['flips'], 'flip')} from P, "
            f"{d['from_ap']['flips']} from AP "
            f"(per read <= {max(d['from_p']['per_read_upper90'], d['from_ap']['per_read_upper90']):.2g}, 90 %)"
        )
    )
