"""Result files of the experiments: run file (HDF5), Markdown table, CSV and PNG figures."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import StoreError, counted
from mtj_hil.experiments.borders import BordersResult
from mtj_hil.experiments.borders_config import config_record
from mtj_hil.experiments.claims import CLAIMS_HEADER, claims_note, claims_rows
from mtj_hil.experiments.networks import save_network
from mtj_hil.experiments.stats import binomial_ci, mean_ci
from mtj_hil.fileio.atomic import atomic_write_text, written_aside
from mtj_hil.runs.store.runfile import RunFile

LABELS = {
    "software": "software baseline",
    "unaware": "unaware",
    "unaware_placed": "unaware, defect-aware placement",
    "defect_aware": "defect-aware",
    "defect_aware_compensated": "defect-aware, digital compensation",
    "statistics_aware": "statistics-aware",
    "statistics_aware_plain": "statistics-aware, plain placement",
    "lea": "LEA (software network, layer copies averaged)",
    "lea_statistics": "LEA of the statistics-aware network",
    "lea_recalibrated": "LEA, per-neuron recalibration",
    "statistics_recalibrated": "statistics-aware, per-neuron recalibration",
    "lea_statistics_recalibrated": "LEA of the statistics-aware network, recalibrated",
    "statistics_compensated": "statistics-aware, data-free compensation",
    "lea_statistics_compensated": "LEA of the statistics-aware network, data-free compensation",
}


def markdown_table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    """A GitHub-flavoured Markdown table."""
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines) + "\n"


def write_csv(path: Path, header: Sequence[str], rows: Sequence[Sequence[Any]]) -> Path:
    """Write rows under a header line; returns ``path``."""
    text = io.StringIO(newline="")
    w = csv.writer(text)
    w.writerow(header)
    w.writerows(rows)
    atomic_write_text(path, text.getvalue())
    return path


def borders_summary(result: BordersResult, on_chip: bool = False) -> list[list[str]]:
    """Rows ``method, mean error [95 % t-CI], std, min, max, mean - software, dies within
    1 point, dies worse than software + 1 point at 95 %`` (percent). The last two use the
    paired per-die difference to the software baseline on the same test samples."""
    base = result.software_wrong / result.n_test
    rows = []
    for method in result.methods():
        if on_chip and method not in ("software", *result.dies[0].wrong_on_chip):
            continue
        e = result.errors(method, on_chip and method != "software")
        if not np.isfinite(e).any():
            continue
        ci = mean_ci(e)
        within = int(np.sum(e[np.isfinite(e)] - base <= 0.01 + 1e-12))
        beyond = "-"
        if method != "software" and not on_chip:
            beyond = str(int(np.sum(result.paired(method)[:, 1] > 0.01)))
        rows.append(
            [
                LABELS[method] + (" (on chip)" if on_chip and method != "software" else ""),
                ci.percent(),
                f"{100 * np.nanstd(e, ddof=1) if e.size > 1 else 0.0:.2f}",
                f"{100 * np.nanmin(e):.1f}",
                f"{100 * np.nanmax(e):.1f}",
                f"{100 * (ci.value - base):+.2f}",
                f"{within}/{int(np.isfinite(e).sum())}",
                beyond,
            ]
        )
    return rows


SUMMARY_HEADER = [
    "method",
    "mean error [95 % CI]",
    "std (pt)",
    "min %",
    "max %",
    "mean - software (pt)",
    "dies within 1 pt",
    "dies > 1 pt worse (95 %)",
]


def seeds_summary(results: Sequence[BordersResult]) -> tuple[list[str], list[list[str]]]:
    """Per seed and method: software error, mean error over dies, mean paired difference to
    that seed's software baseline, dies within 1 point, dies significantly beyond 1 point;
    then the mean over seeds (percent; the difference with a Student-t interval over seeds).
    """
    header = [
        "seed",
        "method",
        "software %",
        "mean error %",
        "mean - software (pt)",
        "worst die - software (pt)",
        "dies within 1 pt",
        "dies > 1 pt worse (95 %)",
    ]
    rows: list[list[str]] = []
    methods = [m for m in results[0].methods() if m != "software"]
    for m in methods:
        diffs, base_all, err_all, within, beyond, n_dies = [], [], [], 0, 0, 0
        for r in results:
            base = r.software_wrong / r.n_test
            e = r.errors(m)
            p = r.paired(m)
            w = int(np.sum(e - base <= 0.01 + 1e-12))
            b = int(np.sum(p[:, 1] > 0.01))
            diffs.append(float(np.mean(e) - base))
            base_all.append(base)
            err_all.append(float(np.mean(e)))
            within, beyond, n_dies = within + w, beyond + b, n_dies + e.size
            rows.append(
                [
                    str(r.config.seed),
                    LABELS[m],
                    f"{100 * base:.2f}",
                    f"{100 * np.mean(e):.2f}",
                    f"{100 * diffs[-1]:+.2f}",
                    f"{100 * (np.max(e) - base):+.1f}",
                    f"{w}/{e.size}",
                    str(b),
                ]
            )
        ci = mean_ci(np.array(diffs))
        rows.append(
            [
                "mean",
                LABELS[m],
                f"{100 * np.mean(base_all):.2f}",
                f"{100 * np.mean(err_all):.2f}",
                f"{100 * ci.value:+.2f} [{100 * ci.low:+.2f}, {100 * ci.high:+.2f}]",
                "",
                f"{within}/{n_dies}",
                str(beyond),
            ]
        )
    return header, rows


def seeds_markdown(results: Sequence[BordersResult]) -> str:
    """The several-seed summary as Markdown."""
    r0 = results[0]
    c = r0.config
    header, rows = seeds_summary(results)
    return (
        f"# Borders experiment over {counted(len(results), 'seed')}: {r0.dataset}, "
        f"{'-'.join(map(str, r0.sizes))}, {counted(len(r0.dies), 'die')} of lot {c.lot_seed} "
        f"({c.profile})\n\n"
        "Each seed re-splits the data and retrains every network; the software baseline is "
        "that seed's network on ideal devices. Differences are to the same seed's baseline "
        "(percentage points); the interval of the mean difference is Student-t over seeds. "
        "'dies > 1 pt worse' counts dies whose paired 95 % interval of (method - software) "
        "lies above 1 point.\n\n" + markdown_table(header, rows) + claims_markdown(results)
    )


def claims_markdown(results: Sequence[BordersResult]) -> str:
    """The per-die claims pooled over seeds (:mod:`claims`) as a Markdown section (a one-line
    note instead when the results carry no discordant counts, e.g. read from older files)."""
    try:
        rows = [[LABELS[r[0]], *r[1:]] for r in claims_rows(results)]
    except ValueError as exc:
        return f"\n## Within 1 pt of software, per die\n\nNot available: {exc}.\n"
    return (
        "\n## Within 1 pt of software, per die\n\n"
        + claims_note(results)
        + "\n\n"
        + markdown_table(CLAIMS_HEADER, rows)
    )


def borders_per_die(result: BordersResult) -> tuple[list[str], list[list[Any]]]:
    """Per-die CSV rows: errors and Clopper-Pearson 95 % bounds (fractions), defect counts;
    numbers in full, as the run file holds them."""
    header = ["die", "n_test"]
    methods = result.methods()[1:]
    chip = [m for m in methods if result.dies and m in result.dies[0].wrong_on_chip]
    for m in methods:
        header += [f"{m}_error", f"{m}_ci_low", f"{m}_ci_high"]
        header += [f"{m}_minus_software", f"{m}_minus_software_low", f"{m}_minus_software_high"]
    if result.config.on_chip:
        header += [f"{m}_on_chip_error" for m in chip]
        header += [f"{m}_bit_error_rate" for m in chip]
    header += ["shorts", "opens", "stuck_p", "stuck_ap", "read_noise", "truth_agreement"]
    rows = []
    for d in result.dies:
        row: list[Any] = [d.index, result.n_test]
        for m in methods:
            ci = binomial_ci(d.wrong[m], result.n_test)
            # numbers in full (the shortest text that reads back equal), not rounded as the
            # Markdown tables show them
            row += [float(ci.value), float(ci.low), float(ci.high)]
            row += [float(x) for x in d.paired[m]]
        if result.config.on_chip:
            row += [d.wrong_on_chip[m] / result.n_test for m in chip]
            row += [float(d.bit_error_rate[m]) for m in chip]
        c = d.defects
        row += [c["SHORT"], c["OPEN"], c["STUCK_P"], c["STUCK_AP"], float(d.read_noise)]
        row += [float(d.truth_agreement)]
        rows.append(row)
    return header, rows


def write_borders(result: BordersResult, out_dir: Path, stem: str = "borders") -> dict[str, Path]:
    """Write ``<stem>.h5``, ``.md``, ``.csv`` and the PNG figures into ``out_dir``.

    Raises:
        StoreError: the run file exists already or cannot be written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"runfile": out_dir / f"{stem}.h5"}
    if paths["runfile"].exists():
        raise StoreError(f"{paths['runfile']} already exists; choose another --out-dir")
    header, rows = borders_per_die(result)
    paths["csv"] = write_csv(out_dir / f"{stem}.csv", header, rows)
    paths["markdown"] = out_dir / f"{stem}.md"
    atomic_write_text(paths["markdown"], borders_markdown(result))
    paths["figure"] = borders_figure(result, out_dir / f"{stem}-per-die.png")
    paths["histogram"] = borders_histogram(result, out_dir / f"{stem}-histogram.png")
    # the run file last: it marks the folder as holding results, so a stop before it
    # (while the figures are drawn) leaves a folder the next run writes again
    _borders_runfile(result, paths["runfile"])
    return {"runfile": paths.pop("runfile"), **paths}


def borders_markdown(result: BordersResult) -> str:
    """The summary table (and the on-chip one if measured) with the run's settings."""
    c = result.config
    text = (
        f"# Borders experiment: {result.dataset}, {'-'.join(map(str, result.sizes))}, "
        f"{counted(len(result.dies), 'die')} of lot {c.lot_seed} ({c.profile})\n\n"
        f"Test samples per die: {result.n_test}. Errors in percent; 95 % CI of the mean over "
        f"dies is Student-t; per-die Clopper-Pearson intervals and paired differences to the "
        f"software baseline are in the CSV. Seed {c.seed}, epochs {c.epochs}; statistics-aware "
        f"{c.stats_epochs} and defect-aware {c.finetune_epochs} more epochs from that network; "
        f"the software baseline (= unaware) gets {c.finetune_epochs} more on ideal devices. "
        f"'dies > 1 pt worse' counts dies whose paired 95 % interval of "
        f"(method - software) lies above 1 point. LEA: copies per layer "
        f"{result.lea_copies}, {result.lea_device_cost:.2f}x the devices of one copy.\n\n"
    )
    text += markdown_table(SUMMARY_HEADER, borders_summary(result))
    text += claims_markdown([result])
    if c.on_chip:
        text += "\nMeasured on the simulated dies (write-verify, crossbar reads):\n\n"
        text += markdown_table(SUMMARY_HEADER, borders_summary(result, on_chip=True))
    return text


def _borders_runfile(result: BordersResult, path: Path) -> None:
    c = result.config
    run = RunFile.create(
        path,
        "experiment-borders",
        die_id=f"sim:{c.profile}:lot{c.lot_seed}:dies0-{c.dies - 1}",
        seed=c.seed,
        station={"backend": "simulated", "profile": c.profile, "lot_seed": c.lot_seed},
        extra={
            "config": config_record(c),
            "dataset": result.dataset,
            "preprocessing": result.preprocessing,
            "sizes": result.sizes,
            "n_test": result.n_test,
            "placement_plain": result.placement.as_dict(),
            "placements_defect_aware": [d.placement for d in result.dies],
            "population": _population_record(result),
            "seconds": result.seconds,
            "lea_copies": result.lea_copies,
            "lea_device_cost": result.lea_device_cost,
        },
    )
    try:
        run.write("errors/software", result.software_wrong / result.n_test, "1", "test error")
        for m in result.methods()[1:]:
            run.write(f"errors/{m}", result.errors(m), "1", f"{LABELS[m]} test error per die")
            run.write(
                f"paired/{m}",
                result.paired(m),
                "1",
                f"{LABELS[m]} minus software error per die on the same test samples: "
                "difference, 95 % low, 95 % high",
            )
            if c.on_chip and m in result.dies[0].wrong_on_chip:
                run.write(
                    f"errors_on_chip/{m}",
                    result.errors(m, on_chip=True),
                    "1",
                    f"{LABELS[m]} test error per die, measured on the simulated die",
                )
        codes = ("SHORT", "OPEN", "STUCK_P", "STUCK_AP")
        counts = np.array([[d.defects[k] for k in codes] for d in result.dies])
        run.write(
            "dies/defect_counts", counts, "1", "measured devices per class: " + ", ".join(codes)
        )
        run.write("dies/read_noise", [d.read_noise for d in result.dies], "1", "relative, 1 sigma")
        run.write(
            "dies/truth_agreement",
            [d.truth_agreement for d in result.dies],
            "1",
            "fraction of devices whose measured class equals the simulator's truth",
        )
        for name, net in result.nets.items():
            save_network(run, f"networks/{name}", net, result.placement)
        run.set_status("completed")
    except BaseException as exc:
        run.set_status("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        run.close()


def _population_record(result: BordersResult) -> dict[str, Any]:
    p = asdict(result.population)
    p.pop("layout")
    p["defect_rates"] = {k.name: v for k, v in result.population.defect_rates.items()}
    return json.loads(json.dumps(p, default=float))


def borders_figure(result: BordersResult, path: Path) -> Path:
    """Per-die test error of the four methods (dies sorted by unaware error)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    un = result.errors("unaware")
    order = np.argsort(un, kind="stable")
    fig, ax = plt.subplots(figsize=(9, 4.5))
    x = np.arange(len(order))
    styles = {
        "software": ("k", "-", ""),
        "unaware": ("tab:red", "", "o"),
        "unaware_placed": ("tab:orange", "", "x"),
        "defect_aware": ("tab:green", "", "s"),
        "defect_aware_compensated": ("limegreen", "", "p"),
        "statistics_aware": ("tab:blue", "", "^"),
        "statistics_aware_plain": ("tab:purple", "", "v"),
        "lea": ("tab:brown", "", "D"),
        "lea_statistics": ("tab:cyan", "", "P"),
        "lea_recalibrated": ("tab:gray", "", "d"),
        "statistics_recalibrated": ("tab:olive", "", "*"),
        "lea_statistics_recalibrated": ("tab:pink", "", "h"),
        "statistics_compensated": ("navy", "", "<"),
        "lea_statistics_compensated": ("darkgreen", "", ">"),
    }
    for m in result.methods():
        color, ls, marker = styles[m]
        e = 100 * result.errors(m)[order]
        ax.plot(x, e, color=color, linestyle=ls or "none", marker=marker or None, label=LABELS[m])
    ax.set_xticks(x, [str(result.dies[i].index) for i in order], fontsize=7)
    ax.set_xlabel("die (sorted by unaware error)")
    ax.set_ylabel("test error (%)")
    ax.set_title(
        f"{result.dataset}: {counted(len(result.dies), 'die')}, {'-'.join(map(str, result.sizes))}",
        parse_math=False,
    )
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    with written_aside(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path


def borders_histogram(result: BordersResult, path: Path) -> Path:
    """Histogram of per-die test errors of the three on-die methods."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6, 4))
    shown = ("unaware", "defect_aware", "statistics_aware")
    allv = np.concatenate([100 * result.errors(m) for m in shown])
    bins = np.linspace(np.nanmin(allv) - 0.5, np.nanmax(allv) + 0.5, 25)
    for m, color in zip(shown, ("tab:red", "tab:green", "tab:blue"), strict=True):
        ax.hist(100 * result.errors(m), bins=bins, alpha=0.5, color=color, label=LABELS[m])
    ax.axvline(100 * result.software_wrong / result.n_test, color="k", label="software")
    ax.set_xlabel("test error (%)")
    ax.set_ylabel("dies")
    ax.legend(fontsize=8)
    fig.tight_layout()
    with written_aside(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
