"""The ``mtj-hil campaign`` commands: run a campaign on Dask, show its progress, gather its
results. Listed in the root group's table, :data:`mtj_hil.cli.command_table.COMMANDS`."""

from __future__ import annotations

import contextlib
from pathlib import Path

import click
from rich.markup import escape
from rich.text import Text

from mtj_hil.campaigns.moved import moved_note
from mtj_hil.cli.common import GivenPath
from mtj_hil.cli.progress_display import make_progress
from mtj_hil.cli.tables import make_console, print_markdown, print_table
from mtj_hil.cli.view import live_option, live_view
from mtj_hil.errors import command_line, counted

console = make_console(stderr=True)
CAMPAIGN_FILE = GivenPath(dir_okay=False, path_type=Path)
LOG_LEVELS = {"WARNING": "yellow", "ERROR": "red", "CRITICAL": "red"}
"""Levels of the log records a worker relays (``"LEVEL: message"``) -> their colour."""


def relayed_line(task_id: str, text: str) -> Text:
    """How a task's relayed warning or log record (``"Category: message"``, ``"LEVEL:
    message"``; :func:`mtj_hil.campaigns.worker.relayed_warnings`) is printed:
    ``warning (Category) task: message``, or ``error task: message`` for a log record."""
    category, _, message = text.partition(": ")
    if category in LOG_LEVELS:
        return Text.assemble((category.lower(), LOG_LEVELS[category]), f" {task_id}: {message}")
    return Text.assemble(("warning", "yellow"), f" ({category}) {task_id}: {message}")


@click.group(short_help="Run whole lots and experiment sweeps as tasks on Dask.")
def campaign() -> None:
    """Campaigns: whole lots and experiment sweeps as tasks on Dask, from a laptop to a
    cluster. A campaign file (TOML) lists task groups; see docs/campaigns.md and
    campaigns/example-lot.toml."""


@campaign.command(short_help="Check a campaign file and list its tasks; nothing runs.")
@click.argument("file", type=CAMPAIGN_FILE)
def check(file: Path) -> None:
    """Check the campaign FILE as 'campaign run' does before any task starts, and list its
    task groups; nothing runs and nothing is kept (a probe folder shows that the results
    folder can be made and written).

    Refused (exit 3, naming the key): unknown keys and kinds, dies and arrays off the die,
    a plan the die refuses, a station file that does not load, and every setting a task
    would refuse when it starts (a network too large for the die's arrays, a data set that
    does not load...), and a task changed since the campaign's index recorded it completed
    or begun. The devices a network finds usable are known only once its dies are
    characterised, so that check waits for the task. A results folder that cannot be made
    or written: exit 4, as run would.
    """
    from mtj_hil.campaigns import load_campaign
    from mtj_hil.errors import StoreError
    from mtj_hil.fileio.atomic import error_text
    from mtj_hil.fileio.writable import probe_folder

    spec = load_campaign(file)
    try:  # run would stop at its first write (the index's lock): said here, nothing kept
        probe_folder(spec.out_dir)
    except OSError as exc:
        raise StoreError(
            f"{spec.file}: out_dir {spec.out_dir} cannot be made or written: {error_text(exc)}"
        ) from exc
    if spec.index_path.exists():  # tasks changed since their index recorded them: as run
        from mtj_hil.campaigns.engine import refuse_changed
        from mtj_hil.campaigns.index import PARAMS_SCHEME, CampaignIndex

        header, records = CampaignIndex(spec.index_path).header_and_records()
        if header.get("params_scheme") == PARAMS_SCHEME:  # an older index: run upgrades it
            refuse_changed(spec, records)
    groups: dict[str, list] = {}
    for t in spec.tasks:
        groups.setdefault(t.group, []).append(t)
    rows = []
    for name, tasks in groups.items():
        needs = sorted({n.split("/")[0] for t in tasks for n in t.needs})
        rows.append((name, tasks[0].kind, len(tasks), ", ".join(needs) or "-"))
    print_table(
        make_console(),
        ("group", "kind", "tasks", "after"),
        rows,
        f"campaign {spec.name}: {counted(len(spec.tasks), 'task')} -> {spec.out_dir}",
        right=(2,),
    )


@campaign.command(short_help="Run every unfinished task of a campaign.")
@click.argument("file", type=CAMPAIGN_FILE)
@click.option(
    "--scheduler",
    default=None,
    metavar="ADDRESS",
    callback=lambda ctx, param, value: _scheduler(value),
    help="A running Dask scheduler: tls://HOST:PORT (certificates from the campaign file's "
    "[cluster] section or Dask's configuration) or tcp://HOST:PORT (unauthenticated: anyone "
    "who reaches it runs code on the workers; see docs/campaigns.md). Its workers need this "
    "package installed and the campaign's out_dir on a shared disk. Default: a local "
    "cluster on this machine (loopback only, TLS).",
)
@click.option(
    "--workers",
    type=click.IntRange(1, 512),
    default=None,
    help="Worker processes of the local cluster (one thread each) [default: one per core].",
)
@live_option
def run(file: Path, scheduler: str | None, workers: int | None) -> None:
    """Run every unfinished task of the campaign FILE.

    Finished tasks (run file completed and unchanged since indexed) are skipped; interrupted
    ones are resumed. Failing tasks are recorded with their error and the others go on; the
    command then exits with status 1. Stations are held by one task at a time.
    """
    from mtj_hil.campaigns import load_campaign
    from mtj_hil.campaigns.cluster import plain_remote
    from mtj_hil.campaigns.engine import (
        CampaignIncomplete,
        connect,
        dashboard_link,
        run_campaign,
    )
    from mtj_hil.campaigns.index import CampaignIndex, IndexUnreadable, owned_records

    if scheduler is not None and workers is not None:
        raise click.UsageError(
            f"--workers starts a local cluster; it cannot be used with --scheduler {scheduler} "
            "(start workers on the cluster with 'dask worker')"
        )
    spec = load_campaign(file)
    if scheduler is not None and plain_remote(scheduler):
        console.print(
            f"[yellow]warning[/]: {escape(scheduler)} is plain TCP: unencrypted and unauthenticated; "
            "anyone who can reach it runs code on every worker. Prefer tls:// (see "
            "docs/campaigns.md).",
            highlight=False,
            soft_wrap=True,
        )
    CampaignIndex(spec.index_path).refuse_if_running()  # before a cluster starts for nothing
    if spec.index_path.exists():  # another campaign's out_dir: refused before it starts, too
        with contextlib.suppress(IndexUnreadable):  # (the run rebuilds an unreadable one)
            owned_records(spec)
    client = connect(scheduler, workers, settings=spec.cluster)
    said: dict[str, list[str]] = {}  # warning text -> the tasks that raised it
    try:
        n = len(client.scheduler_info().get("workers", {}))
        console.print(
            escape(
                f"campaign {spec.name}: {counted(len(spec.tasks), 'task')} -> {spec.out_dir} "
                f"on {scheduler or 'a local cluster'} ({counted(n, 'worker')})"
            ),
            soft_wrap=True,
        )
        link = dashboard_link(client, local=scheduler is None)
        if link:
            console.print(escape(f"Dask dashboard: {link}"), soft_wrap=True)
        elif scheduler is None:
            console.print("Dask dashboard: install bokeh>=3.1 to watch the tasks in a browser")
        with make_progress(console, 14) as bar:
            ids: dict[str, int] = {}

            def progress(kind: str, done: int, total: int) -> None:
                if kind not in ids:
                    ids[kind] = bar.add_task(kind, total=total)
                bar.update(ids[kind], completed=done)

            def warn(task_id: str, text: str) -> None:
                # each warning once, as it first comes; the tasks it came from at the end
                said.setdefault(text, []).append(task_id)
                if len(said[text]) == 1:
                    bar.console.print(relayed_line(task_id, text), highlight=False, soft_wrap=True)

            with live_view(file):
                outcome = run_campaign(spec, client, progress, warn)
    finally:
        cluster = getattr(client, "cluster", None)
        client.close()
        if cluster is not None and scheduler is None:
            cluster.close()
    console.print(
        escape(
            f"{len(outcome.completed)} run, {len(outcome.skipped)} already finished, "
            f"{len(outcome.failed)} failed; index {spec.index_path}"
        ),
        soft_wrap=True,
    )
    for text, tasks in said.items():
        if len(tasks) > 1:
            category, _, _ = text.partition(": ")
            category = category.lower() if category in LOG_LEVELS else category
            console.print(
                escape(f"the {category} above came from {counted(len(tasks), 'task')}: ")
                + escape(", ".join(tasks[:5]) + (", ..." if len(tasks) > 5 else "")),
                highlight=False,
                soft_wrap=True,
            )
    for task_id, error in outcome.failed.items():
        console.print(
            Text.assemble(("failed", "red"), f" {task_id}: {error}"),
            highlight=False,
            soft_wrap=True,
        )
    if outcome.failed:
        raise CampaignIncomplete(
            f"{len(outcome.failed)} task(s) failed; fix the cause and run again (finished "
            f"tasks are kept); details: {command_line('campaign', 'status', file)}"
        )


@campaign.command(short_help="Show a campaign's progress and its failures.")
@click.argument("file", type=CAMPAIGN_FILE)
@click.option(
    "--verify",
    is_flag=True,
    help="Re-check every indexed run file against the checksum the index keeps (and read "
    "its datasets); a changed, missing or damaged file is named (exit 4).",
)
def status(file: Path, verify: bool) -> None:
    """Progress of the campaign FILE per task kind, and every failure with its error."""
    from mtj_hil.campaigns import load_campaign
    from mtj_hil.campaigns.index import CampaignIndex, IndexUnreadable, owned_records
    from mtj_hil.campaigns.rebuild import view

    spec = load_campaign(file)
    if not spec.index_path.exists():
        console.print(
            escape(f"campaign {spec.name}: not started ({counted(len(spec.tasks), 'task')})"),
            soft_wrap=True,
        )
        return
    index = CampaignIndex(spec.index_path)
    try:
        records = owned_records(spec)
    except IndexUnreadable as exc:
        console.print(
            f"[yellow]{escape(str(exc))}[/]: showing the state of the run files instead; the next "
            "'campaign run' rebuilds the index",
            highlight=False,
            soft_wrap=True,
        )
        records = view(spec)
    kinds: dict[str, list[str]] = {}
    for t in spec.tasks:
        kinds.setdefault(t.kind, []).append(records.get(t.id, {}).get("status", "pending"))
    rows = [
        (
            kind,
            len(states),
            *(states.count(s) for s in ("completed", "running", "failed", "pending")),
        )
        for kind, states in kinds.items()
    ]
    # tasks left 'running' by a campaign run that no longer runs were cut short
    cut = not index.run_active() and any(r[3] for r in rows)
    headers = ("kind", "tasks", "completed", "interrupted" if cut else "running", "failed")
    headers += ("pending",)
    changed = [t.id for t in spec.tasks if records.get(t.id, {}).get("status") == "changed"]
    if changed:
        headers += ("changed",)
        rows = [
            (*row, states.count("changed"))
            for row, states in zip(rows, kinds.values(), strict=True)
        ]
    right = tuple(range(1, len(headers)))
    print_table(make_console(), headers, rows, f"campaign {spec.name}", right=right)
    if changed:
        console.print(
            escape(
                f"{counted(len(changed), 'task')} changed since measured (settings or a "
                f"profile/station file edited; not counted as done): {', '.join(changed)}"
                + (
                    moved_note(spec.tasks, records)
                    or "; give the group another name or out_dir to measure them with the new "
                    "settings"
                )
            ),
            style="yellow",
            soft_wrap=True,
        )
    if cut:
        console.print(
            escape(
                "no 'campaign run' runs this campaign now: the tasks it was running were "
                f"interrupted; run it again to finish them: {command_line('campaign', 'run', file)}"
            ),
            style="yellow",
            soft_wrap=True,
        )
    _switching_status(spec.tasks, records)
    if verify:
        _verify(spec.tasks, records)
    elif any(r[2] for r in rows):
        console.print(
            "completed as the index records it; --verify re-checks every run file (a file "
            "changed or damaged since is named)",
            style="dim",
            highlight=False,
            soft_wrap=True,
        )
    for t in spec.tasks:
        rec = records.get(t.id, {})
        if rec.get("status") == "failed":
            make_console().print(
                Text.assemble(
                    ("failed", "red"),
                    f" {t.id} (worker {rec.get('worker') or '-'}, {rec.get('ended')}): "
                    f"{rec.get('error')}",
                ),
                highlight=False,
                soft_wrap=True,
            )


def _verify(tasks: list, records: dict) -> None:
    """Compare each indexed run file with the checksum the index keeps, and read its
    datasets; name every file that changed, went missing or is damaged.

    Raises:
        StoreError: at least one file does not match (after listing them all).
    """
    from mtj_hil.campaigns.index import file_checksum
    from mtj_hil.errors import StoreError
    from mtj_hil.runs.store.verify import verify_run_file

    problems, checked = [], 0
    for t in tasks:
        rec = records.get(t.id, {})
        if not rec.get("checksum"):
            continue
        checked += 1
        path = Path(t.run_file)
        if not path.exists():
            problems.append(f"{t.id}: {path} is missing")
            continue
        found = file_checksum(path)
        if found != rec["checksum"]:
            problems.append(
                f"{t.id}: {path} changed since it was indexed (checksum {found[:12]}, "
                f"indexed {rec['checksum'][:12]})"
            )
            continue
        try:
            verify_run_file(path)
        except StoreError as exc:
            problems.append(f"{t.id}: {exc}")
    for line in problems:
        console.print(Text.assemble(("changed", "red"), f" {line}"), soft_wrap=True)
    if problems:
        raise StoreError(
            f"{len(problems)} of {checked} indexed run files do not match the index "
            "(listed above); restore them from a copy, or remove them and run the campaign "
            "again to measure them anew"
        )
    console.print(
        escape(f"verified: {checked} indexed run files match their checksums"), soft_wrap=True
    )


def _switching_status(tasks: list, records: dict) -> None:
    """Per completed switching task: Vc0 and Delta medians and the recommended pulse."""
    from mtj_hil.campaigns.results import SWITCHING_HEADER, switching_row

    done = [
        t
        for t in tasks
        if t.kind == "switching" and records.get(t.id, {}).get("status") == "completed"
    ]
    if not done:
        return
    rows = [[t.id, *switching_row(records[t.id].get("summary") or {})[1:]] for t in done]
    print_table(make_console(), ["task", *SWITCHING_HEADER[1:]], rows, "switching (to AP / to P)")


@campaign.command(short_help="Gather a campaign's results into one report.")
@click.argument("file", type=CAMPAIGN_FILE)
def report(file: Path) -> None:
    """Gather the results of the campaign FILE under <out_dir>/report: lot summary (yield
    per die and class, R_P / R_AP / TMR statistics, lot map PNG, die ranking) and, for
    experiment sweeps, the tables and figures over all seeds."""
    from mtj_hil.campaigns import load_campaign
    from mtj_hil.campaigns.results import write_report

    spec = load_campaign(file)
    if not spec.index_path.exists():
        from mtj_hil.errors import StoreError

        raise StoreError(
            f"campaign {spec.name} ({file}) has not run yet: its index {spec.index_path} does "
            f"not exist; run it first ({command_line('campaign', 'run', file)})"
        )
    text, paths = write_report(spec)
    print_markdown(make_console(), text)
    for name, path in paths.items():
        console.print(escape(f"{name}: {path}"), soft_wrap=True)


def _scheduler(value: str | None) -> str | None:
    """``--scheduler``'s value checked as an address (a bad one is a usage error, exit 2)."""
    from mtj_hil.campaigns.cluster import scheduler_address

    if value is None:
        return None
    try:
        return scheduler_address(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
