"""One-page PNG report of a switching run: S-curves per array, Vc0 and Delta histograms and
maps, write-error rate against amplitude with its extrapolation, the recommended pulse and
the read-disturb count."""

from __future__ import annotations

import textwrap
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from mtj_hil.protocols.chip import CellState  # noqa: E402
from mtj_hil.protocols.mosaic import mosaic  # noqa: E402
from mtj_hil.runs.store.switching import Switching  # noqa: E402


def switching_report(run: Switching, path: str | Path) -> Path:
    """Draw the report of a completed switching run to ``path`` (PNG) and return the path.

    Raises:
        ValueError: the run has not been fitted yet (resume it first).
    """
    an = run.analysis
    if an is None:
        raise ValueError(f"{run.path} has no fits yet; resume the run to finish it")
    path = Path(path)
    loops = [(a, run.data[a]) for a in an.arrays if len(run.data[a].loop_cells)]
    fig = plt.figure(figsize=(17, 14.5 if loops else 11))
    gs = fig.add_gridspec(4 if loops else 3, 4, hspace=0.45, wspace=0.3)
    fig.suptitle(
        f"switching of {run.attrs.get('die_id', '?')}  ({len(an.arrays)} arrays, "
        f"status {run.attrs.get('status')})",
        fontsize=14,
        parse_math=False,  # a die id may hold a "$"
    )
    # S-curves: fraction of devices' trials that switched, per array, at the middle width.
    for col, state in enumerate((CellState.AP, CellState.P)):
        ax = fig.add_subplot(gs[0, col])
        for a in an.arrays:
            d = run.data[a]
            widths = np.unique(d.width)
            w = widths[len(widths) // 2]
            sel = (d.direction == int(state)) & (d.width == w) & ~d.floor_point
            n = d.trials[sel].sum(axis=(1, 2))
            k = d.switched[sel].sum(axis=(1, 2))
            ax.plot(d.amplitude[sel], k / np.maximum(n, 1), lw=0.8, alpha=0.7)
        ax.set_title(f"S-curves to {state.name}, {w:.3g} s (line per array)", fontsize=9)
        ax.set_xlabel("pulse amplitude (V)")
        ax.set_ylabel("P(switch)")
    for col, (key, label) in enumerate((("vc", "Vc0 (V)"), ("delta", "Delta"))):
        ax = fig.add_subplot(gs[0, 2 + col])
        for name, fit in an.directions.items():
            v = fit.__dict__[key]
            ax.hist(v[np.isfinite(v)].ravel(), bins=60, alpha=0.6, label=f"to {name}")
        ax.set_title(f"{label} per device")
        ax.legend()
    for col, (name, fit) in enumerate(an.directions.items()):
        for j, (key, label) in enumerate((("vc", "Vc0 (V)"), ("delta", "Delta"))):
            ax = fig.add_subplot(gs[1, 2 * col + j])
            per_row = int(np.ceil(np.sqrt(fit.vc.shape[0] * 2)))
            im = ax.imshow(mosaic(fit.__dict__[key], max(per_row, 1)), cmap="viridis")
            ax.set_title(f"{label} map to {name} (white: not fitted)", fontsize=9)
            ax.axis("off")
            fig.colorbar(im, ax=ax, shrink=0.7)
    for col, (name, curve) in enumerate(an.wer.items()):
        ax = fig.add_subplot(gs[2, col])
        for i, w in enumerate(curve.widths[:: max(1, len(curve.widths) // 4)]):
            row = list(curve.widths).index(w)
            line = ax.semilogy(curve.amplitudes, curve.median[row], label=f"{w:.2g} s")[0]
            ax.fill_between(
                curve.amplitudes, curve.low[row], curve.high[row], color=line.get_color(), alpha=0.2
            )
            del i
        rec = an.recommendation
        ax.axhline(rec.target, color="k", ls="--", lw=0.8, label=f"target {rec.target:.0e}")
        fl = an.directions[name].floor
        if fl.trials:
            ax.axhline(fl.value, color="r", ls=":", lw=0.8, label=f"floor {fl.value:.1e}")
        ax.set_ylim(max(1e-12, rec.target / 100), 1.1)
        ax.set_title(f"write-error rate to {name} (fit, 90 % band)", pad=10)
        ax.set_xlabel("pulse amplitude (V)")
        ax.legend(fontsize=7)
    ax = fig.add_subplot(gs[2, 2:])
    ax.axis("off")
    rec = an.recommendation
    dist = an.disturb
    lines = [
        "RECOMMENDED PULSE" if rec.found else "NO PULSE REACHES THE TARGET",
        *textwrap.wrap(rec.statement, 95),
        "",
        f"tau0 assumed: {an.tau0:g} s",
    ]
    for name, fit in an.directions.items():
        pop = fit.population
        if pop.get("n"):
            lines.append(
                f"to {name}: Vc0 {pop['vc']:.4g} +- {pop['vc_sd']:.2g} V (spread "
                f"{100 * pop['vc_sigma_rel']:.1f} %), Delta {pop['delta']:.3g} +- "
                f"{pop['delta_sd']:.2g}; {pop['n']} devices fitted, "
                f"{fit.never_switched} never switched"
            )
        fl = fit.floor
        lines.append(
            f"   floor {fl.value:.2g} (90 % {fl.low:.2g}..{fl.high:.2g}, {fl.trials} trials)"
            if fl.trials
            else "   floor not measured (--floor-trials 0)"
        )
    lines.append("")
    lines.append(
        f"read disturb: {dist['reads_per_device']} reads at {dist['voltage']:g} V per device"
    )
    for key in ("from_p", "from_ap"):
        d = dist[key]
        lines.append(
            f"   {key.replace('_', ' ')}: {d['flips']} flips of {d['devices']} devices "
            f"(per read <= {d['per_read_upper90']:.2g}, 90 %)"
        )
    ax.text(0, 1, "\n".join(lines), va="top", family="monospace", fontsize=8, parse_math=False)
    if loops:
        ax = fig.add_subplot(gs[3, :2])
        for a, d in loops:
            for (r, c), g in list(zip(d.loop_cells, d.loop_g, strict=True))[:8]:
                ax.plot(
                    d.loop_voltage,
                    1.0 / np.maximum(g, 1e-12),
                    marker=".",
                    lw=0.8,
                    label=f"array {a} ({r}, {c})",
                )
        ax.set_xlabel("pulse amplitude (V; + towards AP), read after each pulse")
        ax.set_ylabel("R (ohm)")
        ax.set_title("pulsed R-V loops")
        ax.legend(fontsize=7)
    fig.savefig(path, dpi=80)
    plt.close(fig)
    return path
