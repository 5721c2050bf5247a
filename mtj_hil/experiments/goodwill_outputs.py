"""Result files of the Wine experiment: run file (HDF5), Markdown, CSV and a PNG histogram."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from mtj_hil.experiments.goodwill import GoodwillResult, SolutionSet, config_record
from mtj_hil.experiments.outputs import markdown_table, write_csv
from mtj_hil.fileio.atomic import atomic_write_text, written_aside
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.sim.die import simulated_die_id

HEADER = [
    "solutions",
    "n",
    "split",
    "mean %",
    "median %",
    "5 % q",
    "25 % q",
    "75 % q",
    "95 % q",
    "software median %",
    "BER after verify (mean / max)",
]


def summary_rows(result: GoodwillResult) -> list[list[str]]:
    """One row per family and split (NIST test split of 30, all 178 samples)."""
    rows = []
    for s in (result.trained, result.reference):
        if s is None:
            continue
        m = s.summary()
        for split, label, sw in (
            ("test", "test (30)", s.software_test),
            ("all", "all (178)", s.software_all),
        ):
            rows.append(
                [
                    s.name,
                    str(int(m["n"])),
                    label,
                    f"{m[f'{split}_mean']:.2f}",
                    f"{m[f'{split}_median']:.2f}",
                    f"{m[f'{split}_q5']:.1f}",
                    f"{m[f'{split}_q25']:.1f}",
                    f"{m[f'{split}_q75']:.1f}",
                    f"{m[f'{split}_q95']:.1f}",
                    f"{100 * float(np.median(sw)):.2f}",
                    f"{m['ber_mean']:.2e} / {m['ber_max']:.2e}",
                ]
            )
    return rows


def write_goodwill(
    result: GoodwillResult, out_dir: Path, stem: str = "goodwill"
) -> dict[str, Path]:
    """Write ``<stem>.h5``, ``.md``, ``.csv`` (per solution, numbers as the run file holds
    them) and ``-histogram.png``.

    Raises:
        StoreError: the run file exists already or cannot be written.
    """
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"runfile": out_dir / f"{stem}.h5"}
    _runfile(result, paths["runfile"])
    header = ["family", "solution", "test_acc", "all_acc", "sw_test_acc", "sw_all_acc", "ber"]
    rows = []
    for s in (result.trained, result.reference):
        if s is None:
            continue
        for i in range(s.test.size):
            # the numbers as the run file holds them (shortest text that reads back equal),
            # not rounded as the Markdown table shows them
            rows.append(
                [s.name, i]
                + [float(v[i]) for v in (s.test, s.all_samples, s.software_test, s.software_all)]
                + [float(s.bit_error_rate[i])]
            )
    paths["csv"] = write_csv(out_dir / f"{stem}.csv", header, rows)
    c = result.config
    text = (
        f"# Goodwill experiment: {result.dataset}, 13-6-3 on {c.profile} die {c.die} of lot "
        f"{c.lot_seed}\n\nAccuracy measured through the simulated {_cell(result)} crossbars after "
        f"write-verify (first pulse {c.pulse_amplitude} V). Die defects: {result.defects}.\n\n"
    )
    text += markdown_table(HEADER, summary_rows(result))
    if result.skipped:
        text += f"\n{result.skipped}\n"
    paths["markdown"] = out_dir / f"{stem}.md"
    atomic_write_text(paths["markdown"], text)
    paths["histogram"] = _histogram(result, out_dir / f"{stem}-histogram.png")
    return paths


def _runfile(result: GoodwillResult, path: Path) -> None:
    c = result.config
    run = RunFile.create(
        path,
        "experiment-goodwill",
        die_id=simulated_die_id(c.profile, c.lot_seed, c.die),
        seed=c.seed,
        station={"backend": "simulated", "profile": c.profile},
        extra={
            "config": config_record(c),
            "dataset": result.dataset,
            "preprocessing": result.preprocessing,
            "placement": result.placement.as_dict(),
            "defects": result.defects,
            "skipped": result.skipped,
            "seconds": result.seconds,
        },
    )
    try:
        for s in (result.trained, result.reference):
            if s is None:
                continue
            _write_set(run, s)
        run.set_status("completed")
    except BaseException as exc:
        run.set_status("failed", f"{type(exc).__name__}: {exc}")
        raise
    finally:
        run.close()


def _write_set(run: RunFile, s: SolutionSet) -> None:
    for name, values, what in (
        ("test_accuracy", s.test, "accuracy on the test split, measured on the die"),
        ("all_accuracy", s.all_samples, "accuracy on all samples, measured on the die"),
        ("software_test_accuracy", s.software_test, "test accuracy with ideal devices"),
        ("software_all_accuracy", s.software_all, "all-sample accuracy with ideal devices"),
        ("bit_error_rate", s.bit_error_rate, "devices left wrong after write-verify"),
    ):
        run.write(f"{s.name}/{name}", values, "1", what)


def _cell(result: GoodwillResult) -> str:
    """The die's cell kind in words ("passive", "1T1R"): the experiment runs on any profile."""
    return str(result.placement.layout.cell)


def _histogram(result: GoodwillResult, path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 4), sharey=False)
    for ax, attr, title in (
        (axes[0], "test", "NIST test split"),
        (axes[1], "all_samples", "all 178 samples"),
    ):
        bins = np.linspace(0, 100, 51)
        for s, color in ((result.trained, "tab:blue"), (result.reference, "tab:orange")):
            if s is not None:
                ax.hist(100 * getattr(s, attr), bins=bins, alpha=0.6, color=color, label=s.name)
        ax.set_title(title)
        ax.set_xlabel(f"accuracy on the simulated {_cell(result)} die (%)")
        ax.set_ylabel("solutions")
        ax.legend(fontsize=8)
    fig.tight_layout()
    with written_aside(path) as tmp:
        fig.savefig(tmp, dpi=120)
    plt.close(fig)
    return path
