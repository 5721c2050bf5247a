"""One-page PNG report of a characterisation, for a technician to read at a glance."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.colors import ListedColormap  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from mtj_hil.protocols.defects.detect import DefectCode  # noqa: E402
from mtj_hil.protocols.mosaic import mosaic  # noqa: E402
from mtj_hil.runs.store.characterization import Characterization  # noqa: E402

DEFECT_COLOURS = {
    DefectCode.GOOD: "#e8e8e8",
    DefectCode.SHORT: "#d62728",
    DefectCode.OPEN: "#1f1f1f",
    DefectCode.STUCK_P: "#1f77b4",
    DefectCode.STUCK_AP: "#ff7f0e",
    DefectCode.UNCERTAIN: "#e377c2",
}


def yield_table(char: Characterization) -> list[tuple[str, int, float]]:
    """Rows of (defect name, count, percent of devices) for a classified characterisation."""
    assert char.codes is not None
    total = char.codes.size
    return [(name, n, 100.0 * n / total) for name, n in char.counts().items()]


def report_notes(char: Characterization) -> list[str]:
    """The text lines printed at the foot of the report: uncertain devices (how many, and
    re-measurement) and the classifier's warnings."""
    notes = []
    if char.model:
        n = char.uncertain
        line = f"{n} UNCERTAIN devices (circled on the defect map)"
        if char.remeasured.get("devices"):
            r = char.remeasured
            line += (
                f"; {r['devices']} re-measured with {r['cycles']} extra cycles, "
                f"{r['uncertain_after']} still uncertain"
            )
        notes.append(line)
    notes.extend(f"warning: {w}" for w in char.warnings)
    return notes


PANELS_HEIGHT = 11.0
"""Height (in) of the panels; the notes below them add to the figure's height."""
NOTE_CHARS = 170
"""Characters per line of the notes (9 pt on a 16 in wide figure)."""


def wrap_notes(notes: list[str], width: int) -> list[str]:
    """The notes as lines of at most ``width`` characters (continuations indented)."""
    import textwrap

    lines: list[str] = []
    for note in notes:
        lines += textwrap.wrap(note, width, subsequent_indent="    ") or [""]
    return lines


def characterization_report(char: Characterization, path: str | Path) -> Path:
    """Draw the report of a classified characterisation and save it as PNG.

    Panels: R_P and R_AP maps of every array (mosaic), defect map with UNCERTAIN devices
    circled, R_P / R_AP histograms of good devices with the classifier's fitted
    distributions, TMR histogram, per-array yield, a yield table, and the classifier's
    warnings (class overlaps by how much, missing or saturated readings).

    Raises:
        ValueError: the characterisation has no classification yet (run not finished).
    """
    if not char.complete:
        raise ValueError(f"{char.path} has no defect classification yet; finish the run first")
    assert char.codes is not None and char.g_p is not None and char.g_ap is not None
    codes, arrays = char.codes, char.arrays
    good = codes == DefectCode.GOOD
    tiny = 1e-15  # an open device can read exactly 0 S through a converter
    r_p, r_ap = 1.0 / np.maximum(char.g_p, tiny), 1.0 / np.maximum(char.g_ap, tiny)
    tmr = (r_ap - r_p) / r_p
    n = codes.shape[0]
    per_row = int(np.ceil(np.sqrt(n * 2)))

    notes = wrap_notes(report_notes(char), NOTE_CHARS)
    notes_height = 0.3 + 0.19 * len(notes) if notes else 0.0
    fig = plt.figure(figsize=(16, PANELS_HEIGHT + notes_height), layout="constrained")
    if notes:
        panels, foot = fig.subfigures(2, 1, height_ratios=[PANELS_HEIGHT, notes_height])
    else:
        panels, foot = fig, None
    grid = panels.add_gridspec(3, 4, height_ratios=[1.2, 1.2, 1.0])
    title = (
        f"Characterisation of die {char.attrs.get('die_id', '?')}  -  "
        f"run {char.attrs.get('run_id', '')[:8]}  -  {char.attrs.get('started', '')}  -  "
        f"status {char.attrs.get('status', '?')}"
    )
    fig.suptitle(title, fontsize=12, parse_math=False)  # a die id may hold a "$"

    # the resistance panels show the good devices; a die with none (a pulse too weak to
    # switch it, say) shows every device with a finite reading instead, and says so
    shown, who = good, "good devices"
    if not good.any():
        shown = np.isfinite(r_p) & np.isfinite(r_ap)
        who = "all devices, none GOOD"
    lo, hi = _spread(r_p[shown], 0.5), _spread(r_ap[shown], 99.5)
    for col, (label, data) in enumerate((("R_P (ohm)", r_p), ("R_AP (ohm)", r_ap))):
        ax = panels.add_subplot(grid[0, 2 * col : 2 * col + 2])
        vmin, vmax = _spread(data[shown], 0.5), _spread(data[shown], 99.5)
        image = ax.imshow(
            mosaic(np.where(shown, data, np.nan), per_row),
            cmap="viridis",
            vmin=vmin,
            vmax=vmax,
            interpolation="nearest",
        )
        ax.set_title(f"{label}, {who}, arrays in rows of {per_row}")
        ax.set_xticks([])
        ax.set_yticks([])
        panels.colorbar(image, ax=ax, shrink=0.8)

    ax = panels.add_subplot(grid[1, 0:2])
    cmap = ListedColormap([DEFECT_COLOURS[c] for c in DefectCode])
    ax.imshow(
        mosaic(codes.astype(float), per_row, fill=np.nan),
        cmap=cmap,
        vmin=-0.5,
        vmax=len(DefectCode) - 0.5,
        interpolation="nearest",
    )
    unc = np.argwhere(mosaic((codes == DefectCode.UNCERTAIN).astype(float), per_row) > 0.5)
    if unc.size:
        ax.scatter(unc[:, 1], unc[:, 0], s=30, facecolors="none", edgecolors="#e377c2", lw=1.2)
    ax.set_title(
        f"defect map (same order); {int((codes == DefectCode.UNCERTAIN).sum())} UNCERTAIN circled"
    )
    ax.set_xticks([])
    ax.set_yticks([])
    handles = [plt.Rectangle((0, 0), 1, 1, color=DEFECT_COLOURS[c]) for c in DefectCode]
    ax.legend(
        handles, [c.name for c in DefectCode], loc="upper left", bbox_to_anchor=(1, 1), fontsize=8
    )

    ax = panels.add_subplot(grid[1, 2])
    bins = np.linspace(lo * 0.9, hi * 1.1, 80)
    ax.hist(r_p[shown], bins=bins, alpha=0.7, label="R_P")
    ax.hist(r_ap[shown], bins=bins, alpha=0.7, label="R_AP")
    _fitted_curves(ax, char, bins, int(shown.sum()))
    ax.xaxis.set_major_locator(MaxNLocator(nbins=4))
    ax.set_xlabel("resistance (ohm)")
    ax.set_ylabel("devices")
    ax.set_title(f"R of {who}")
    ax.legend(fontsize=7)

    ax = panels.add_subplot(grid[1, 3])
    ratios = tmr[shown & np.isfinite(tmr)]
    ax.hist(100 * ratios, bins=60, color="#2ca02c")
    ax.xaxis.set_major_locator(MaxNLocator(nbins=5))
    ax.set_xlabel("TMR (%)")
    median = f"median {100 * np.median(ratios):.1f} %" if ratios.size else "no device"
    ax.set_title(f"TMR: {median}" + ("" if good.any() else " (all devices)"))

    ax = panels.add_subplot(grid[2, 0:2])
    per_array = 100 * good.reshape(n, -1).mean(axis=1)
    labels = [str(a) for a in (arrays if arrays is not None else range(n))]
    ax.bar(labels, per_array, color=np.where(per_array < 99, "#d62728", "#2ca02c"))
    ax.set_ylim(max(0, per_array.min() - 2), 100.2)
    ax.tick_params(axis="x", labelsize=7 if len(labels) > 16 else 9)
    if len(labels) > 40:  # label every k-th array only: the labels stay apart
        step = int(np.ceil(len(labels) / 40))
        ax.set_xticks(range(0, len(labels), step), labels[::step])
    ax.set_xlabel("array")
    ax.set_ylabel("yield (%)")
    ax.set_title("yield per array (good devices / devices)")

    ax = panels.add_subplot(grid[2, 2:4])
    ax.axis("off")
    rows = [[name, f"{count}", f"{pct:.2f} %"] for name, count, pct in yield_table(char)]
    rows.append(["total", f"{codes.size}", "100.00 %"])
    table = ax.table(
        cellText=rows,
        colLabels=["class", "devices", "share"],
        colWidths=[0.4, 0.3, 0.3],
        bbox=[0.15, 0.0, 0.7, 0.86],
    )
    table.auto_set_font_size(False)
    table.set_fontsize(9)
    ax.text(0.5, 0.93, f"yield {100 * good.mean():.2f} %", ha="center", fontsize=10, weight="bold")
    t = char.thresholds
    if t is not None:
        ax.set_title(
            f"thresholds: state {t.state_g * 1e6:.0f} uS, short {t.short_g * 1e6:.0f} uS, "
            f"open {t.open_g * 1e6:.1f} uS",
            fontsize=9,
        )

    if foot is not None:
        ax = foot.add_subplot(1, 1, 1)
        ax.axis("off")
        ax.text(
            0,
            1,
            "\n".join(notes),
            fontsize=9,
            color="#a05000",
            va="top",
            transform=ax.transAxes,
            parse_math=False,  # warnings quote file and station names
        )

    path = Path(path)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def _spread(values: np.ndarray, q: float) -> float:
    """Percentile ``q`` of the finite ``values`` (ohm), 1.0 when there are none (an axis
    still needs a scale)."""
    finite = values[np.isfinite(values)]
    return float(np.percentile(finite, q)) if finite.size else 1.0


def _fitted_curves(ax, char: Characterization, bins: np.ndarray, n_good: int) -> None:
    """Overlay the classifier's fitted lognormal P and AP distributions (scaled to the
    number of good devices) on a resistance histogram; nothing for version-1 files."""
    m = char.model
    if not m:
        return
    width = bins[1] - bins[0]
    r = np.linspace(bins[0], bins[-1], 400)
    for key, sig_key, colour, label in (
        ("median_g_p", "sigma_ln_p", "#08306b", "fitted P"),
        ("median_g_ap", "sigma_ln_ap", "#7f2704", "fitted AP"),
    ):
        mu, sigma = -np.log(m[key]), m[sig_key]
        pdf = np.exp(-0.5 * ((np.log(r) - mu) / sigma) ** 2) / (r * sigma * np.sqrt(2 * np.pi))
        ax.plot(r, n_good * width * pdf, color=colour, lw=1.2, label=label)
    g_short = m.get("short_median_g")
    if g_short and bins[0] < 1 / g_short < bins[-1]:
        ax.axvline(1 / g_short, color="#d62728", ls="--", lw=1, label="fitted short median")
