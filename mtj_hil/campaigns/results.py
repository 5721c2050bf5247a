"""Results gathered over a campaign's run files: the lot summary of each ``characterize``
group, the per-die switching table of each ``switching`` group and the over-seeds tables of
each ``borders`` group, written under ``<out_dir>/report``.

Lot summary: per die yield and devices per class, R_P / R_AP (ohm) and TMR statistics of the
good devices, a rank by yield, a lot map (PNG) coloured by yield. Borders sweep: the
``summary.md`` and CSV that ``mtj-hil experiment borders --seeds N`` writes, over every
completed seed task, and a figure of per-die errors per method over all seeds.
"""

from __future__ import annotations

import math
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.campaigns.index import IndexUnreadable, owned_records
from mtj_hil.campaigns.rebuild import view
from mtj_hil.campaigns.spec import CampaignSpec
from mtj_hil.campaigns.task import Task
from mtj_hil.experiments.outputs import markdown_table, write_csv
from mtj_hil.fileio.atomic import atomic_write_text, written_aside
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.runs.store.characterization import load_characterization
from mtj_hil.runs.store.journal import RecoveryWarning

LOT_HEADER = [
    "rank",
    "die",
    "devices",
    "yield %",
    "SHORT",
    "OPEN",
    "STUCK_P",
    "STUCK_AP",
    "R_P median (ohm)",
    "R_P CV %",
    "R_AP median (ohm)",
    "R_AP CV %",
    "TMR median %",
    "TMR std %",
]


def die_statistics(path: Path) -> dict[str, Any]:
    """Yield, devices per class and resistance statistics of one characterisation.

    R in ohm from the mean conductance after P / AP writes of GOOD devices; TMR =
    R_AP / R_P - 1 per device; CV = standard deviation / mean.

    Raises:
        StoreError: not a characterisation run file. ValueError: not classified yet.
    """
    char = load_characterization(path)
    if char.codes is None or char.g_p is None or char.g_ap is None:
        raise ValueError(f"{path} has no classification yet")
    good = char.codes == DefectCode.GOOD
    r_p = 1.0 / char.g_p[good]
    r_ap = 1.0 / char.g_ap[good]
    tmr = r_ap / r_p - 1.0
    stats = {
        "die": str(char.attrs.get("die_id", path.stem)),
        "devices": int(char.codes.size),
        "yield": float(good.mean()),
        "counts": char.counts(),
    }
    if good.any():
        stats.update(
            r_p=float(np.median(r_p)),
            r_p_cv=float(r_p.std() / r_p.mean()),
            r_ap=float(np.median(r_ap)),
            r_ap_cv=float(r_ap.std() / r_ap.mean()),
            tmr=float(np.median(tmr)),
            tmr_std=float(tmr.std()),
        )
    else:
        stats.update(
            r_p=np.nan, r_p_cv=np.nan, r_ap=np.nan, r_ap_cv=np.nan, tmr=np.nan, tmr_std=np.nan
        )
    return stats


def lot_table(stats: list[dict[str, Any]]) -> list[list[str]]:
    """Rows of :data:`LOT_HEADER`, best die first (by yield, then by median TMR)."""
    order = sorted(
        range(len(stats)), key=lambda i: (-stats[i]["yield"], -np.nan_to_num(stats[i]["tmr"]))
    )
    rows = []
    for rank, i in enumerate(order, 1):
        s = stats[i]
        c = s["counts"]
        rows.append(
            [
                str(rank),
                s["die"],
                str(s["devices"]),
                f"{100 * s['yield']:.2f}",
                str(c["SHORT"]),
                str(c["OPEN"]),
                str(c["STUCK_P"]),
                str(c["STUCK_AP"]),
                f"{s['r_p']:.0f}",
                f"{100 * s['r_p_cv']:.2f}",
                f"{s['r_ap']:.0f}",
                f"{100 * s['r_ap_cv']:.2f}",
                f"{100 * s['tmr']:.1f}",
                f"{100 * s['tmr_std']:.1f}",
            ]
        )
    return rows


def lot_map(labels: list[str], yields: list[float | None], path: Path, title: str) -> Path:
    """A lot map: one square per die in task order (rows of ceil(sqrt(n))), coloured by
    yield (percent); dies without a result are grey. Returns ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    n = len(labels)
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    grid = np.full((rows, cols), np.nan)
    for k, y in enumerate(yields):
        if y is not None:
            grid[divmod(k, cols)] = 100 * y
    fig, ax = plt.subplots(figsize=(1.1 * cols + 1.5, 1.0 * rows + 1.0))
    cmap = matplotlib.colormaps["viridis"]
    cmap = cmap.with_extremes(bad="#cccccc")
    finite = grid[np.isfinite(grid)]
    lo, hi = (finite.min(), finite.max()) if finite.size else (0.0, 100.0)
    im = ax.imshow(np.ma.masked_invalid(grid), cmap=cmap, vmin=lo, vmax=max(hi, lo + 1e-3))
    for k, label in enumerate(labels):
        r, c = divmod(k, cols)
        text = label if yields[k] is None else f"{label}\n{100 * yields[k]:.2f}"
        bright = yields[k] is not None and (100 * yields[k] - lo) > 0.6 * (hi - lo)
        colour = "black" if bright else "white"
        # die labels and the group's name are the user's words: a "$" is no math
        ax.text(c, r, text, ha="center", va="center", fontsize=7, color=colour, parse_math=False)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, parse_math=False)
    fig.colorbar(im, ax=ax, label="yield (% good devices)")
    fig.tight_layout()
    with written_aside(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path


def _label(task: Task) -> str:
    return task.id.split("/", 1)[1]


def write_report(spec: CampaignSpec) -> tuple[str, dict[str, Path]]:
    """Write the campaign's results under ``<out_dir>/report`` from its completed tasks.

    Returns the Markdown text (also ``report.md``) and the written paths by name.

    Raises:
        StoreError: no index yet, or a completed run file cannot be read.
    """
    try:
        records = owned_records(spec)
    except IndexUnreadable as exc:
        warnings.warn(f"{exc}: reporting from the run files instead", RecoveryWarning, stacklevel=2)
        records = view(spec)
    folder = spec.out_dir / "report"
    folder.mkdir(parents=True, exist_ok=True)
    paths: dict[str, Path] = {}
    done = {tid for tid, r in records.items() if r.get("status") == "completed"}
    failed = sum(r.get("status") == "failed" for r in records.values())
    text = (
        f"# Campaign {spec.name}\n\n{len(done)} of {len(spec.tasks)} tasks completed, "
        f"{failed} failed. Index: {spec.index_path}\n\n"
    )
    groups: dict[str, list[Task]] = {}
    for t in spec.tasks:
        groups.setdefault(t.group, []).append(t)
    for gname, tasks in groups.items():
        kind = tasks[0].kind
        finished = [t for t in tasks if t.id in done]
        if kind == "characterize":
            text += _lot_section(gname, tasks, finished, folder, paths)
        elif kind == "borders":
            text += _borders_section(gname, finished, folder, paths)
        elif kind == "switching":
            text += _switching_section(gname, tasks, finished, folder, paths)
        else:
            text += (
                f"## {gname} ({kind})\n\n{len(finished)} of {len(tasks)} tasks completed; "
                "run files:\n\n" + "".join(f"- {t.run_file}\n" for t in finished) + "\n"
            )
    paths["markdown"] = folder / "report.md"
    atomic_write_text(paths["markdown"], text)
    return text, paths


def _lot_section(
    gname: str, tasks: list[Task], finished: list[Task], folder: Path, paths: dict[str, Path]
) -> str:
    text = f"## Lot summary: {gname}\n\n"
    if not finished:
        return text + "No die finished yet.\n\n"
    stats = {t.id: die_statistics(t.run_file) for t in finished}
    rows = lot_table(list(stats.values()))
    paths[f"{gname}-csv"] = write_csv(folder / f"{gname}-dies.csv", LOT_HEADER, rows)
    yields = [stats[t.id]["yield"] if t.id in stats else None for t in tasks]
    paths[f"{gname}-map"] = lot_map(
        [_label(t) for t in tasks], yields, folder / f"{gname}-map.png", f"{gname}: yield per die"
    )
    y = np.array([s["yield"] for s in stats.values()])
    totals = {c.name: sum(s["counts"][c.name] for s in stats.values()) for c in DefectCode}
    devices = sum(s["devices"] for s in stats.values())
    text += (
        f"{len(finished)} of {len(tasks)} dies; yield mean {100 * y.mean():.2f} %, "
        f"min {100 * y.min():.2f} %, max {100 * y.max():.2f} %. Devices per class over the "
        "lot: "
        + ", ".join(f"{k} {v} ({100 * v / devices:.3f} %)" for k, v in totals.items())
        + f".\n\nMap: {paths[f'{gname}-map']}\n\n"
        + markdown_table(LOT_HEADER, rows)
        + "\n"
    )
    return text


SWITCHING_HEADER = [
    "die",
    "devices fitted",
    "never switched",
    "Vc0 to AP median (V)",
    "Vc0 to P median (V)",
    "Delta to AP median",
    "Delta to P median",
    "Delta spread %",
    "recommended pulse",
]


def switching_row(s: dict[str, Any]) -> list[str]:
    """One row of :data:`SWITCHING_HEADER` from a ``switching`` task summary: medians with
    their standard uncertainties; the Delta spread is the device-to-device relative spread
    (fit noise removed) of the direction towards AP; the recommended pulse meets the target
    write-error rate in both directions, or is marked ``none`` (see the run's report)."""

    def med(d: str, k: str, digits: int) -> str:
        v = s.get(d, {})
        if k not in v:
            return "-"
        return f"{v[k]:.{digits}f} +- {v[f'{k}_sd']:.{digits}f}"

    ap, p = s.get("AP", {}), s.get("P", {})
    spread = ap.get("delta_sigma_rel")
    rec = s.get("recommendation", {})
    pulse = (
        f"{rec['amplitude']:.3g} V x {rec['width']:.3g} s"
        if rec.get("found")
        else "none reaches the target"
    )
    return [
        str(s.get("die_id", "")),
        f"{ap.get('n', 0)} / {p.get('n', 0)}",
        f"{ap.get('never_switched', 0)} / {p.get('never_switched', 0)}",
        med("AP", "vc", 3),
        med("P", "vc", 3),
        med("AP", "delta", 1),
        med("P", "delta", 1),
        "-"
        if spread is None
        else f"{100 * spread:.1f} +- {100 * ap.get('delta_sigma_rel_sd', float('nan')):.1f}",
        pulse,
    ]


def _switching_section(
    gname: str, tasks: list[Task], finished: list[Task], folder: Path, paths: dict[str, Path]
) -> str:
    from mtj_hil.campaigns.kinds.switching import summary

    text = f"## Switching: {gname}\n\n"
    if not finished:
        return text + "No die finished yet.\n\n"
    rows = [switching_row(summary(t.run_file)) for t in finished]
    paths[f"{gname}-csv"] = write_csv(folder / f"{gname}-switching.csv", SWITCHING_HEADER, rows)
    return (
        text + f"{len(finished)} of {len(tasks)} dies. Devices fitted and never switched: to AP / "
        "to P. Medians +- standard uncertainty; Delta spread: device-to-device, fit noise "
        "removed (to AP).\n\n" + markdown_table(SWITCHING_HEADER, rows) + "\n"
    )


def _borders_section(gname: str, finished: list[Task], folder: Path, paths: dict[str, Path]) -> str:
    from mtj_hil.campaigns.kinds.borders import load_result
    from mtj_hil.experiments.outputs import seeds_markdown, seeds_summary

    if not finished:
        return f"## Borders sweep: {gname}\n\nNo seed finished yet.\n\n"
    results = [load_result(t.run_file) for t in finished]
    header, rows = seeds_summary(results)
    paths[f"{gname}-csv"] = write_csv(folder / f"{gname}-seeds.csv", header, rows)
    paths[f"{gname}-figure"] = _sweep_figure(results, folder / f"{gname}-per-die.png")
    body = seeds_markdown(results).replace("# Borders", f"## {gname}: Borders", 1)
    body += (
        "\nPer seed (tables, CSV, figures): "
        + ", ".join(str(t.run_file.parent) for t in finished)
        + "\n\n"
    )
    body += f"Per-die errors over all seeds: {paths[f'{gname}-figure']}\n\n"
    return body


def _sweep_figure(results: list[Any], path: Path) -> Path:
    """Box plot per method of every (seed, die) test error, percent."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtj_hil.experiments.outputs import LABELS

    methods = results[0].methods()
    data = [100 * np.concatenate([r.errors(m) for r in results]) for m in methods]
    fig, ax = plt.subplots(figsize=(1.6 * len(methods) + 2, 4))
    ax.boxplot(data, showmeans=True)
    ax.set_xticks(
        range(1, len(methods) + 1),
        [LABELS[m] for m in methods],
        rotation=20,
        ha="right",
        fontsize=8,
    )
    ax.set_ylabel("test error (%)")
    ax.set_title(f"{len(results)} seeds x {len(results[0].dies)} dies")
    fig.tight_layout()
    with written_aside(path) as tmp:
        fig.savefig(tmp, dpi=110)
    plt.close(fig)
    return path
