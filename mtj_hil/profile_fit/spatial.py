"""The ``[spatial]`` section fitted from the defect maps of characterisation runs: an edge
band, scratches and particle clusters (dead arrays are counted with the line structure in
:mod:`mtj_hil.profile_fit.defects`).

Each die's point defects (line structure left out) are laid on the die's array grid (the base
profile's ``spatial.grid_cols``, else the squarest grid: the run files do not record how the
arrays sit on the die). In this order:

- an **edge band**: the defect rate of devices within ``w`` pitches of the die's edge against
  the rest, ``w`` by profile likelihood (binomial), kept when the likelihood ratio passes
  ``EDGE_LR``; its factor is the median die's once clusters and scratches are left out;
- **scratches** inside the band (:mod:`mtj_hil.profile_fit.scratches`): straight,
  one-device-wide lines at any angle, pieces joined, line-defect remnants left out;
- **particle clusters**: the other 8-connected components of at least ``s_min`` devices.
  Random point defects also touch by chance: the same defects placed at random over the same
  devices (``NULL_PERMUTATIONS`` times) give the chance components, ``s_min`` is the smallest
  size where chance makes at most ``CHANCE_SHARE`` of what is seen, and their expected number
  is taken off the count. Sizes follow the simulator's law (a lognormal, rounded to devices),
  fitted by maximum likelihood truncated at ``s_min``, which also scales the count up for the
  clusters too small to see (wafer-map classes: Wu, Jang and Chen, IEEE Trans. Semicond.
  Manuf. 28, 1 (2015)).

Devices of scratches, clusters and a kept edge band are left out of the point-defect rates
(:func:`put_spatial` returns them), as the simulator draws them on top of those rates.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy import ndimage
from scipy.optimize import minimize
from scipy.stats import norm

from mtj_hil.profile_fit.scratches import scratches
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.sim.flaws import die_grid
from mtj_hil.sim.profile_sections import Spatial

NULL_PERMUTATIONS = 8
"""Random placements of a die's defects that give the chance components."""
CHANCE_SHARE = 0.1
"""Chance may make at most this share of the components counted as clusters."""
EDGE_MAX = 12
"""Widest edge band tried (device pitches)."""
EDGE_LR = 25.0
"""Likelihood ratio (2 ln L1/L0) an edge band must reach to be kept (~ z 4.5 after the
search over widths)."""
POINT_CODES = (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP)
SCRATCH_CODES = tuple(
    DefectCode[name]
    for name in Spatial.RANGES["scratch_class"][:2]  # type: ignore[misc]
)
"""What a scratch can leave, as a profile's ``scratch_class`` states it (SHORT, OPEN): lines
of stuck devices are not looked for (on a die with many stuck devices, chance lines them
up, and a profile could not state such a scratch)."""


@dataclass
class DieMap:
    """One die's point defects on its array grid (device pitches)."""

    defect: np.ndarray  # (height, width) bool: a called point defect
    valid: np.ndarray  # (height, width) bool: a measured device outside line structure
    code: np.ndarray  # (height, width) uint8: the called class (GOOD where none)
    where: tuple[np.ndarray, np.ndarray]  # (y, x) of every measured device, codes' shape
    area: float  # share of the die's devices measured
    array_shape: tuple[int, int]  # (rows, cols) of one array


@dataclass
class Components:
    """8-connected components of one die's defect map."""

    labels: np.ndarray  # (height, width) int: component index + 1, 0 = none
    size: np.ndarray  # devices per component


@dataclass
class SpatialFit:
    """What the maps show: values ``key -> (value, sd or None, source)`` and per die the
    devices to leave out of the point rates."""

    values: dict[str, tuple[float, float | None, str]]
    exclude: list[np.ndarray]


def die_map(
    codes: np.ndarray, arrays: np.ndarray, n_arrays: int, structure: np.ndarray, grid_cols: int
) -> DieMap:
    """Lay one run's codes ``(measured arrays, rows, cols)`` on the die's array grid."""
    _, rows, cols = codes.shape
    gc, grid_rows = die_grid(n_arrays, grid_cols)
    a = np.asarray(arrays, int)[:, None, None]
    y = (a // gc) * rows + np.arange(rows)[None, :, None] + 0 * np.arange(cols)[None, None, :]
    x = (a % gc) * cols + np.arange(cols)[None, None, :] + 0 * np.arange(rows)[None, :, None]
    shape = (grid_rows * rows, gc * cols)
    valid = np.zeros(shape, bool)
    valid[y, x] = ~structure
    code = np.zeros(shape, np.uint8)
    code[y, x] = codes
    defect = valid & np.isin(code, POINT_CODES)
    return DieMap(defect, valid, code, (y, x), codes.shape[0] / n_arrays, (rows, cols))


def components(defect: np.ndarray) -> Components:
    """8-connected components of a defect map and their sizes (devices)."""
    labels, n = ndimage.label(defect, structure=np.ones((3, 3), int))
    return Components(labels, np.bincount(labels[labels > 0] - 1, minlength=n).astype(float))


def chance_sizes(valid: np.ndarray, k: int, rng: np.random.Generator, top: int) -> np.ndarray:
    """Expected number of chance components of each size ``0..top`` (the last bin: ``top``
    and more) when ``k`` point defects sit at random over the ``valid`` devices."""
    cells = np.flatnonzero(valid)
    counts = np.zeros(top + 1)
    for _ in range(NULL_PERMUTATIONS):
        shuffled = np.zeros(valid.size, bool)
        shuffled[rng.choice(cells, size=min(k, cells.size), replace=False)] = True
        comp = components(shuffled.reshape(valid.shape))
        counts += np.bincount(np.minimum(comp.size.astype(int), top), minlength=top + 1)
    return counts / NULL_PERMUTATIONS


def size_law_fit(sizes: np.ndarray, s_min: int) -> tuple[float, float, np.ndarray]:
    """Median, lognormal sigma and their covariance of cluster sizes (devices) from those of
    at least ``s_min``, as drawn by the simulator: ``round(median * exp(sigma z))``."""
    s = np.asarray(sizes, float)

    def nll(theta: np.ndarray) -> float:
        mu, sig = theta[0], np.exp(theta[1])
        lo = norm.cdf((np.log(s - 0.5) - mu) / sig)
        hi = norm.cdf((np.log(s + 0.5) - mu) / sig)
        seen = norm.sf((np.log(s_min - 0.5) - mu) / sig)
        return -float(np.sum(np.log(np.maximum(hi - lo, 1e-300)) - np.log(max(seen, 1e-300))))

    start = np.array([np.log(np.median(s)), np.log(max(np.std(np.log(s)), 0.2))])
    # within the profile's ranges: a median of at least one device, sigma 0.05..3
    bounds = [(0.0, np.log(1e5)), (np.log(0.05), np.log(3.0))]
    res = minimize(nll, np.clip(start, *np.array(bounds).T), method="L-BFGS-B", bounds=bounds)
    mu, ln_sig = res.x
    cov = _inverse_hessian(nll, res.x)
    sig = float(np.exp(ln_sig))
    # delta method: d median / d mu = median, d sigma / d ln sigma = sigma
    jac = np.diag([np.exp(mu), sig])
    return float(np.exp(mu)), sig, jac @ cov @ jac


def visible_share(s_min: int, median: float, sigma: float, cov: np.ndarray) -> tuple[float, float]:
    """Share of clusters of at least ``s_min`` devices under the size law, and its sd (delta
    method over the law's covariance ``cov`` of median and sigma)."""

    def share(m: float, s: float) -> float:
        return float(norm.sf((np.log(s_min - 0.5) - np.log(m)) / s))

    value = share(median, sigma)
    grad = np.array(
        [
            (share(median * 1.001, sigma) - share(median / 1.001, sigma)) / (0.002 * median),
            (share(median, sigma * 1.001) - share(median, sigma / 1.001)) / (0.002 * sigma),
        ]
    )
    var = float(grad @ cov @ grad)
    return value, float(np.sqrt(var)) if np.isfinite(var) and var > 0 else 0.0


def _inverse_hessian(f, x: np.ndarray, h: float = 1e-3) -> np.ndarray:
    """Inverse of the numerical Hessian of ``f`` at ``x`` (a covariance of an MLE)."""
    n = x.size
    hess = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            e_i, e_j = np.eye(n)[i] * h, np.eye(n)[j] * h
            hess[i, j] = (
                f(x + e_i + e_j) - f(x + e_i - e_j) - f(x - e_i + e_j) + f(x - e_i - e_j)
            ) / (4 * h * h)
    try:
        return np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return np.full((n, n), np.nan)


def edge_distance(shape: tuple[int, int]) -> np.ndarray:
    """Distance (pitches) of every device centre from the die's nearest edge."""
    h, w = shape
    y = np.arange(h)[:, None] + 0.5
    x = np.arange(w)[None, :] + 0.5
    return np.minimum(np.minimum(x, w - x), np.minimum(y, h - y))


def edge_band(
    maps: list[DieMap], keep: list[np.ndarray], widths: tuple[int, ...] | None = None
) -> tuple[int, float, float, float]:
    """Best edge band width ``w`` (pitches; of ``widths``, default 1..``EDGE_MAX``), the rate
    factor inside it, its sd and the likelihood ratio against no band, over the devices
    ``keep`` of each map."""

    def ll(k: float, n: float) -> float:
        p = k / n if n else 0.0
        return 0.0 if p <= 0 or p >= 1 else k * np.log(p) + (n - k) * np.log(1 - p)

    best = (0, 1.0, 0.0, 0.0)
    dist = [edge_distance(m.valid.shape) for m in maps]
    k_all = sum(float((m.defect & ok).sum()) for m, ok in zip(maps, keep, strict=True))
    n_all = sum(float(ok.sum()) for ok in keep)
    for w in widths or range(1, EDGE_MAX + 1):
        k_in = n_in = 0.0
        for m, ok, d in zip(maps, keep, dist, strict=True):
            band = ok & (d < w)
            k_in += float((m.defect & band).sum())
            n_in += float(band.sum())
        k_out, n_out = k_all - k_in, n_all - n_in
        if not n_in or not n_out or not k_out:
            continue
        lr = 2 * (ll(k_in, n_in) + ll(k_out, n_out) - ll(k_all, n_all))
        factor = (k_in / n_in) / (k_out / n_out)
        if factor > 1 and lr > best[3]:
            sd = factor * np.sqrt(1 / max(k_in, 1) + 1 / k_out)
            best = (w, float(factor), float(sd), float(lr))
    return best


def _class_scratches(m: DieMap, where: np.ndarray) -> tuple[np.ndarray, int, list[float]]:
    """:func:`scratches` of one map looked for in each class a scratch can leave
    (:data:`SCRATCH_CODES`) on its own: a scratch turns the devices it crosses into one
    class, and stuck devices scattered beside it would otherwise thicken its group past a
    line."""
    mask = np.zeros(m.defect.shape, bool)
    count, lengths = 0, []
    for code in SCRATCH_CODES:
        part, n, long = scratches(m.defect & where & (m.code == code), m.array_shape)
        mask |= part
        count += n
        lengths += long
    return mask, count, lengths


def fit_spatial(maps: list[DieMap], seed: int = 0) -> SpatialFit:
    """Scratches, clusters and an edge band from the dies' maps (module docstring)."""
    rng = np.random.default_rng(seed)
    # The edge band first (a dense band would join into long thin groups), then scratches
    # and clusters inside it.
    width, _, _, lr = edge_band(maps, [m.valid for m in maps])
    band = [edge_distance(m.valid.shape) < (width if lr > EDGE_LR else 0) for m in maps]
    inner = [m.valid & ~b for m, b in zip(maps, band, strict=True)]
    found = [_class_scratches(m, v) for m, v in zip(maps, inner, strict=True)]
    comps = [components(m.defect & v & ~f[0]) for m, v, f in zip(maps, inner, found, strict=True)]
    top = 64
    seen = np.zeros(top + 1)
    chance = np.zeros(top + 1)
    cluster_sizes: list[np.ndarray] = []
    n_scratch, lengths, scratch_codes = 0, [], []
    for m, v, c, (mask, count, long) in zip(maps, inner, comps, found, strict=True):
        seen += np.bincount(np.minimum(c.size.astype(int), top), minlength=top + 1)
        chance += chance_sizes(v & ~mask, int((m.defect & v & ~mask).sum()), rng, top)
        cluster_sizes.append(c.size)
        n_scratch += count
        lengths += long
        scratch_codes += list(m.code[mask])
    # dies' worth of devices looked at (measured, outside line structure and the band)
    area = float(
        sum(m.area * v.sum() / max(m.where[0].size, 1) for m, v in zip(maps, inner, strict=True))
    )
    tail_seen, tail_chance = np.cumsum(seen[::-1])[::-1], np.cumsum(chance[::-1])[::-1]
    s_min = next(
        (s for s in range(3, 11) if tail_seen[s] and tail_chance[s] <= CHANCE_SHARE * tail_seen[s]),
        None,
    )
    values: dict[str, tuple[float, float | None, str]] = {}
    src = f"{len(maps)} dies' defect maps on the array grid"
    explained = [np.zeros(m.valid.shape, bool) for m in maps]
    if s_min is not None:
        sizes = np.concatenate([s[s >= s_min] for s in cluster_sizes])
        n_net = max(tail_seen[s_min] - tail_chance[s_min], 0.0)
        if sizes.size >= 3:
            median, sigma, cov = size_law_fit(sizes, s_min)
            visible, vis_sd = visible_share(s_min, median, sigma, cov)
            rate = n_net / max(visible, 1e-3) / area
            rel = np.hypot(np.sqrt(tail_seen[s_min]) / max(n_net, 1), vis_sd / visible)
            how = f"{int(tail_seen[s_min])} components of >= {s_min} devices, {tail_chance[s_min]:.1f} by chance"
            values["cluster_rate"] = (rate, rate * rel, f"{how}; {src}")
            values["cluster_size_median"] = (median, float(np.sqrt(cov[0, 0])), f"{how}; {src}")
            values["cluster_size_sigma"] = (sigma, float(np.sqrt(cov[1, 1])), f"{how}; {src}")
            for ex, c in zip(explained, comps, strict=True):
                big = np.flatnonzero(c.size >= s_min) + 1
                ex |= np.isin(c.labels, big)
    values["scratch_rate"] = (
        n_scratch / area,
        np.sqrt(max(n_scratch, 1)) / area,
        f"{n_scratch} long one-device-wide components; {src}",
    )
    if lengths:
        values["scratch_length"] = (
            float(np.median(lengths)),
            None,
            f"median extent of {len(lengths)} scratches (cut short at the die's edge: a bound)",
        )
    if n_scratch:
        kinds, counts = np.unique(np.asarray(scratch_codes), return_counts=True)
        values["scratch_class"] = (float(kinds[np.argmax(counts)]), None, "their commonest class")
        for ex, f in zip(explained, found, strict=True):
            ex |= f[0]
    keep = [m.valid & ~ex for m, ex in zip(maps, explained, strict=True)]
    if lr > EDGE_LR:  # its factor again without the clusters and scratches in it
        width, factor, f_sd, lr = edge_band(maps, keep, widths=(width,))
        if len(maps) >= 3:  # the median die: a cluster landing in one die's band moves it little
            per_die = [
                edge_band([m], [k], widths=(width,))[1] for m, k in zip(maps, keep, strict=True)
            ]
            factor = float(np.median(per_die))
            f_sd = float(1.2533 * np.std(per_die, ddof=1) / np.sqrt(len(per_die)))
    exclude = [ex.copy() for ex in explained]
    if lr > EDGE_LR:
        how = f"edge band by profile likelihood (2 ln LR {lr:.0f}); {src}"
        values["edge_width"] = (float(width), None, how)
        values["edge_factor"] = (factor, f_sd, how)
        for ex, m in zip(exclude, maps, strict=True):
            ex |= edge_distance(m.valid.shape) < width
    return SpatialFit(values, exclude)


def device_mask(m: DieMap, mask: np.ndarray) -> np.ndarray:
    """A grid mask back in the run's codes shape ``(measured arrays, rows, cols)``."""
    return mask[m.where]


def put_spatial(chars, structures: list[np.ndarray], base, put, data: dict) -> list[np.ndarray]:
    """Fit the ``[spatial]`` section from the runs ``chars`` (their line structure masks
    ``structures``) and put it (``put(section, key, value, sd, source)``); returns, per run,
    the devices (codes' shape) to leave out of the point-defect rates."""
    grid_cols = base.spatial.grid_cols if base.spatial is not None else 0
    maps = [
        die_map(
            c.char.codes,
            np.asarray(c.char.arrays, int),
            int(c.char.layout["n_arrays"]),
            s,
            grid_cols,
        )
        for c, s in zip(chars, structures, strict=True)
    ]
    fit = fit_spatial(maps)
    found = {k for k in fit.values if k != "scratch_rate"} or (fit.values["scratch_rate"][0] > 0)
    if not found and base.spatial is None:
        return [np.zeros(c.char.codes.shape, bool) for c in chars]
    if "cluster_rate" not in fit.values:
        area = float(sum(m.area for m in maps))
        fit.values["cluster_rate"] = (0.0, 1.0 / area, "no clusters beyond chance in the maps")
    if "edge_factor" not in fit.values:
        fit.values["edge_factor"] = (1.0, None, "no edge band beyond chance in the maps")
        fit.values["edge_width"] = (0.0, None, "no edge band beyond chance in the maps")
    for key, (value, sd, source) in fit.values.items():
        if key == "scratch_class":
            continue
        put("spatial", key, value, sd, source)
    section = data.setdefault("spatial", {})
    section["grid_cols"] = int(grid_cols)
    if "scratch_class" in fit.values:
        section["scratch_class"] = DefectCode(int(fit.values["scratch_class"][0])).name
    return [device_mask(m, ex) for m, ex in zip(maps, fit.exclude, strict=True)]
