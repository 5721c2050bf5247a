"""What ``mtj-hil show`` says about each kind of file the tool writes or reads: run files of
every measurement kind (through the kind registry), networks, experiment results, campaign
indexes, calibration records, and the TOML files people write (naming the command that
reads each)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape

from mtj_hil.cli.tables import make_console, print_grid
from mtj_hil.errors import StoreError, blank_edge_hint, command_line, counted
from mtj_hil.runs.store.resume import finish_hint, resume_hint
from mtj_hil.runs.store.sniff import hdf5_signature_at_block


def sniff(path: Path) -> str:
    """``"hdf5"``, ``"png"``, ``"toml"`` or ``"other"`` from the file's first bytes.

    Raises:
        StoreError: the file does not exist or cannot be read.
    """
    if not path.exists():
        raise StoreError(f"run file {path} does not exist{blank_edge_hint(path)}")
    if path.is_dir():
        raise StoreError(f"{path} is a folder; give a file")
    try:
        with path.open("rb") as fh:
            head = fh.read(512)
            hdf5 = hdf5_signature_at_block(fh)
    except OSError as exc:
        raise StoreError(f"cannot read {path}: {exc.strerror}") from exc
    if hdf5:
        return "hdf5"
    if head.startswith(b"\x89PNG"):
        return "png"
    suffix = path.suffix.lower()  # bench.TOML is TOML
    if suffix == ".toml" or (suffix == "" and b"\x00" not in head):
        return "toml"  # (a .toml file holding NULs is refused by the TOML reader, by name)
    if suffix in (".h5", ".hdf5"):
        if head and not head.startswith(b"mtj-hil") and _is_text(head):
            raise StoreError(
                f"{path} holds text, not HDF5, though named {path.suffix} (a TOML or CSV file "
                "renamed?); give 'show' the run file, or this file under its own name"
            )
        return "hdf5"
    return "other"


def _is_text(head: bytes) -> bool:
    """Whether ``head`` (a file's first bytes) reads as UTF-8 text without NULs."""
    try:
        head.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return b"\x00" not in head


def run_state(out: Console, attrs: dict[str, Any], held: bool, path: Path) -> None:
    """One line on a run that is not completed: written now, or interrupted and how to
    finish it."""
    status = str(attrs.get("status", ""))
    from mtj_hil.runs.store.lease import lease_holder

    holder = lease_holder(path)
    pid = holder.get("pid", attrs.get("writer_pid"))
    host = holder.get("host") or attrs.get("writer_host") or attrs.get("host")
    # (a dead writer's lease is tidied away on opening: its pid is then not known)
    where = f" on {host}" if host else ""
    who = f"pid {pid}{where}" if pid else (where.strip() or "unknown")
    if status != "completed" and attrs.get("kind") == "network" and not held:
        out.print(
            escape(
                f"unfinished: the training was stopped while its network was being saved "
                f"(status {status}); it cannot be resumed: {resume_hint(attrs, path)}"
            ),
            style="yellow",
            soft_wrap=True,
        )
    elif status == "running" and held:
        out.print(
            escape(f"being written now by {who}: showing what it has flushed so far"),
            style="yellow",
            soft_wrap=True,
        )
    elif status == "running":
        out.print(
            escape(
                f"interrupted: the run says 'running' but no process holds it any more (the "
                f"writer, {who}, is gone); {finish_hint(attrs, path)}"
            ),
            style="yellow",
            soft_wrap=True,
        )
    elif status in ("aborted", "failed"):
        reason = attrs.get("status_reason") or ""
        out.print(
            escape(f"{status} ({reason}); {finish_hint(attrs, path)}"),
            style="yellow",
            soft_wrap=True,
        )


def show_network(path: Path) -> None:
    """A trained network (``mtj-hil train``): method, die, data, and how to evaluate it."""
    from mtj_hil.runs.store.runfile import RunFile

    with RunFile.open(path) as run:
        attrs = run.attrs
        layers = sorted(k for k in run.h5.get("network", {}) if k)
        comp = run.h5.get("network/compensation")
        corrected = None
        if comp is not None:
            sets = [comp[k] for k in comp if k.startswith("corrected_")]
            corrected = sum(d.shape[0] for d in sets if d.ndim == 2)
            budget, epochs = comp.attrs.get("budget", "?"), comp.attrs.get("epochs", "?")
    out = make_console()
    keys = ("die_id", "kind", "status", "method", "dataset_name", "profile", "die", "started")
    print_grid(out, [(k, attrs[k]) for k in keys if attrs.get(k) not in (None, "")])
    out.print(escape(f"stored: {', '.join(layers) or '(nothing)'}"), soft_wrap=True)
    if corrected is not None:
        out.print(
            escape(
                f"digital correction: {corrected} weights (budget {budget}, fine-tuned "
                f"{epochs} epochs for it); evaluate applies it"
            ),
            soft_wrap=True,
        )
    if attrs.get("status") != "completed":
        return  # an unfinished network (said above) is refused by evaluate
    die = attrs.get("die", "N")
    out.print(
        escape(f"evaluate it with: {command_line('evaluate', '--net', path, '--die', die)}"),
        soft_wrap=True,
    )


def show_experiment(path: Path) -> None:
    """An experiment's results file: provenance, the errors it holds, its Markdown table."""
    from mtj_hil.runs.store.runfile import RunFile

    with RunFile.open(path) as run:
        attrs = run.attrs
        datasets: list[str] = []
        run.h5.visit(lambda name: datasets.append(name) if "/" in name else None)
    out = make_console()
    keys = ("kind", "die_id", "status", "seed", "started", "ended", "seconds")
    print_grid(out, [(k, attrs[k]) for k in keys if attrs.get(k) not in (None, "")])
    out.print(escape(f"datasets: {', '.join(datasets) or '(none)'}"), soft_wrap=True)
    md = path.with_suffix(".md")
    if md.exists():
        out.print(escape(f"results table: {md}"), soft_wrap=True)


def show_campaign_index(path: Path) -> None:
    """A campaign index: its campaign, tasks per status, and the commands that say more."""
    from mtj_hil.campaigns.index import CampaignIndex

    index = CampaignIndex(path)
    header = index.header()
    records = index.records()
    states: dict[str, int] = {}
    for rec in records.values():
        states[str(rec.get("status"))] = states.get(str(rec.get("status")), 0) + 1
    out = make_console()
    print_grid(
        out,
        [
            ("campaign", header.get("name", "?")),
            ("campaign file", header.get("campaign_file", "?")),
            ("updated", header.get("updated", "")),
            ("tasks", ", ".join(f"{n} {s}" for s, n in sorted(states.items())) or "none"),
        ],
    )
    campaign_file = header.get("campaign_file", "FILE")
    out.print(
        escape(
            f"progress and failures: {command_line('campaign', 'status', campaign_file)}"
            " (--verify re-checks the run files)"
        ),
        soft_wrap=True,
    )


def show_toml(path: Path, named_toml: bool = True) -> None:
    """A TOML file: a calibration record is summarised, a die profile described in one
    line; station and campaign files name the command that reads them.

    ``named_toml`` False: the file was taken for TOML only because it is text without a
    suffix, so text that does not parse is named as a file mtj-hil does not read.

    Raises:
        ConfigError: the file is not valid TOML or not one of these kinds.
        StoreError: ``named_toml`` False and the text is not TOML.
    """
    from mtj_hil.errors import ConfigError
    from mtj_hil.schema import read_toml, toml_kind

    try:
        _, data = read_toml(path, "file")
    except ConfigError as exc:
        if named_toml:
            raise
        detail = str(exc).split("is not valid TOML: ", 1)[-1]
        raise StoreError(
            f"{path} is not a file mtj-hil reads (text that does not parse as TOML: {detail}); "
            "'show' reads run files (.h5), campaign indexes and TOML files"
        ) from exc
    out = make_console()
    if toml_kind(data) == "calibration record":
        from mtj_hil.calibration.record_files import read_record
        from mtj_hil.cli.calibration import print_record

        print_record(read_record(path))
    elif toml_kind(data) == "station file":
        from mtj_hil.station.files import load_station

        st = load_station(path)
        out.print(
            escape(f"station file {path}: station {st.name}, die profile {st.profile.name}"),
            soft_wrap=True,
        )
        out.print(
            escape(f"check it (settings, instruments): {command_line('station', 'check', path)}"),
            soft_wrap=True,
        )
    elif toml_kind(data) == "campaign file":
        from mtj_hil.campaigns import load_campaign

        spec = load_campaign(path)
        out.print(
            escape(
                f"campaign file {path}: campaign {spec.name}, {counted(len(spec.tasks), 'task')}"
            ),
            soft_wrap=True,
        )
        out.print(escape(f"progress: {command_line('campaign', 'status', path)}"), soft_wrap=True)
    elif toml_kind(data) == "die profile":
        from mtj_hil.sim.profile import load_profile

        for line in profile_lines(load_profile(path)):
            out.print(escape(line), highlight=False)
    else:
        kind = ConfigError if named_toml else StoreError  # text taken for TOML: exit 4
        raise kind(
            f"{path} is TOML but not a file mtj-hil writes or reads (station, die profile, "
            "campaign or calibration record)"
            if named_toml
            else f"{path} is not a file mtj-hil reads (text, not a station, die profile, "
            "campaign or calibration record); 'show' reads run files (.h5), campaign indexes "
            "and TOML files"
        )


def profile_lines(p) -> list[str]:  # noqa: ANN001 - a DeviceProfile
    """Two lines describing a profile: name and description, then its key figures."""
    g, r, d = p.geometry, p.resistance, p.defects
    tmr = r.r_ap_median / r.r_p_median - 1
    rate = d.short_rate + d.open_rate + d.stuck_p_rate + d.stuck_ap_rate
    lines = d.line_open_rate + d.line_short_rate
    return [
        f"{p.name}: {p.description}",
        f"  {g.n_arrays} x {g.rows}x{g.cols} {g.cell}, R spread {100 * r.r_p_sigma:.1f} %, "
        f"TMR {100 * tmr:.0f} %, shorts {d.short_g_median * 1e3:.2g} mS, defects "
        f"{100 * rate:.1f} %"
        + (f" + {lines:g} lines/array" if lines else "")
        + f", noise {100 * p.read.noise_rel:g} %",
    ]
