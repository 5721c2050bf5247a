"""Drawing the optional flaws of a die (see :mod:`mtj_hil.sim.profile_sections`).

Each flaw draws from a random stream of its own (seeded from the die's seed and a key of
its own), after everything else of the die is drawn, so a profile without the section draws
exactly the die it drew before, and adding one section leaves the others' numbers alone.
Everything here writes into a :class:`~mtj_hil.sim.die.SimulatedDie`'s arrays.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtj_hil.protocols.defects.codes import DefectCode

SimulatedDie = Any
"""A :class:`mtj_hil.sim.die.SimulatedDie` (not imported: the die imports this module)."""

STREAM_KEYS = {
    "populations": 31,
    "spatial": 37,
    "resistive_opens": 41,
    "pinholes": 43,
    "partial_switching": 47,
    "telegraph": 59,
}
"""Key of each flaw's random stream (appended to the die's seed)."""

_RATE_KEYS = (
    (DefectCode.SHORT, "short_rate"),
    (DefectCode.OPEN, "open_rate"),
    (DefectCode.STUCK_P, "stuck_p_rate"),
    (DefectCode.STUCK_AP, "stuck_ap_rate"),
)


def stream(die: SimulatedDie, key: int, *more: int) -> np.random.Generator:
    """The die's random stream number ``key`` (and sub-stream ``more``)."""
    return np.random.default_rng([*die.seed_spawn_key, int(die.seed_entropy), key, *more])


def draw_flaws(die: SimulatedDie, z_common: np.ndarray | None) -> None:
    """Apply every optional flaw section of the die's profile, in a fixed order.

    ``z_common`` is the standard normal behind each device's ln R_P (the size factor), for a
    skewed law; None when the profile has no spread to skew.
    """
    p = die.profile
    if p.populations is not None:
        _populations(die, z_common)
    if p.spatial is not None:
        _spatial(die)
    if p.resistive_opens is not None and p.resistive_opens.fraction > 0:
        ro = p.resistive_opens
        rng = stream(die, STREAM_KEYS["resistive_opens"])
        point = (die.point_defect == DefectCode.OPEN) & (die.defect == DefectCode.OPEN)
        pick = point & (rng.random(die.shape) < ro.fraction)
        lo, hi = np.log(ro.g_low), np.log(ro.g_high)
        g = np.exp(lo + (hi - lo) * rng.random(die.shape))
        die.open_g = np.where(pick, g, p.defects.open_g)
        die.resistive_open = pick
    if p.pinholes is not None and p.pinholes.fraction > 0:
        ph = p.pinholes
        rng = stream(die, STREAM_KEYS["pinholes"])
        barrier = ~np.isin(die.defect, (DefectCode.SHORT, DefectCode.OPEN))
        pick = barrier & (rng.random(die.shape) < ph.fraction)
        leak = ph.g_median * np.exp(ph.g_sigma * rng.standard_normal(die.shape))
        # The access transistor passes at most what a short conducts: a pinhole that would
        # pass more has broken the barrier for good (a short, the transistor limits it).
        broken = pick & (leak >= die.short_g - 1.0 / die.r_p)
        die.defect[broken] = DefectCode.SHORT
        die.leak_g = np.where(pick & ~broken, leak, 0.0)
    if p.partial_switching is not None and p.partial_switching.fraction > 0:
        ps = p.partial_switching
        rng = stream(die, STREAM_KEYS["partial_switching"])
        die.partial_prone = (die.defect == DefectCode.GOOD) & (rng.random(die.shape) < ps.fraction)
        die.partial_level = np.full(die.shape, np.nan)
        die.partial_rngs = [
            stream(die, STREAM_KEYS["partial_switching"], 1, a) for a in range(die.shape[0])
        ]
    if p.telegraph is not None and p.telegraph.fraction > 0:
        _telegraph(die)


def _populations(die: SimulatedDie, z_common: np.ndarray | None) -> None:
    pop = die.profile.populations
    assert pop is not None
    rng = stream(die, STREAM_KEYS["populations"])
    res = die.profile.resistance
    if pop.skew != 0 and z_common is not None:
        # Skew-normal with the same underlying normal, standardised (mean 0, variance 1):
        # the device's size factor keeps its rank among devices but its law is skewed.
        d = pop.skew / np.sqrt(1.0 + pop.skew**2)
        sn = d * np.abs(rng.standard_normal(die.shape)) + np.sqrt(1.0 - d * d) * z_common
        sn = (sn - d * np.sqrt(2.0 / np.pi)) / np.sqrt(1.0 - 2.0 * d * d / np.pi)
        die.r_p = die.r_p * np.exp(res.r_p_sigma * (sn - z_common))
        die.r_ap = die.r_ap * np.exp(res.r_ap_sigma * (sn - z_common))
    weights = np.asarray(pop.fractions, float)
    which = rng.choice(weights.size, size=die.shape, p=weights / weights.sum())
    scale = np.asarray(pop.r_scale, float)[which]
    die.population = which.astype(np.uint8)
    die.r_p = die.r_p * scale
    die.r_ap = die.r_ap * scale


def die_grid(n_arrays: int, grid_cols: int = 0) -> tuple[int, int]:
    """Arrays per row and rows of arrays of a die's array grid (``grid_cols`` 0: the
    squarest grid, ``ceil(sqrt(n_arrays))`` wide); array ``a`` sits at grid row
    ``a // cols``, column ``a % cols``."""
    gc = min(grid_cols or int(np.ceil(np.sqrt(n_arrays))), n_arrays)
    return gc, -(-n_arrays // gc)


def device_coordinates(die: SimulatedDie) -> tuple[np.ndarray, np.ndarray, float, float]:
    """Global (x, y) of every device on the die's array grid (device pitches), and the die's
    width and height."""
    n_arr, rows, cols = die.shape
    sp = die.profile.spatial
    gc, grid_rows = die_grid(n_arr, sp.grid_cols if sp is not None else 0)
    a = np.arange(n_arr)[:, None, None]
    r = np.arange(rows)[None, :, None]
    c = np.arange(cols)[None, None, :]
    y = (a // gc) * rows + r + 0.5 + 0 * c
    x = (a % gc) * cols + c + 0.5 + 0 * r
    return x.astype(float), y.astype(float), float(gc * cols), float(grid_rows * rows)


def _spatial(die: SimulatedDie) -> None:
    sp = die.profile.spatial
    assert sp is not None
    rng = stream(die, STREAM_KEYS["spatial"])
    shape = die.shape
    x, y, width, height = device_coordinates(die)
    hit = np.zeros(shape, bool)
    drawn: dict[str, list[float]] = {"scratch_lengths": [], "cluster_sizes": []}
    defect = die.defect
    dfx = die.profile.defects
    rates = np.array([getattr(dfx, key) for _, key in _RATE_KEYS])
    codes = np.array([int(c) for c, _ in _RATE_KEYS], dtype=np.uint8)

    # Edge band: the die's rate times edge_factor (extra defects on top of the base draw; a
    # sum above 1 would make the band all of the first classes and none of the last).
    if sp.edge_width > 0 and sp.edge_factor > 1:
        edge = np.minimum(np.minimum(x, width - x), np.minimum(y, height - y)) < sp.edge_width
        extra = rates * die.defect_rate_factor * (sp.edge_factor - 1.0)
        if extra.sum() > 1.0:  # at most every device of the band, classes in proportion
            extra = extra / extra.sum()
        u = rng.random(shape)
        cum = np.cumsum(extra)
        cls = np.searchsorted(cum, u)
        new = edge & (u < cum[-1]) & (defect == DefectCode.GOOD)
        defect[new] = codes[np.minimum(cls[new], codes.size - 1)]
        hit |= new
    # Scratches: straight segments one device wide, at random angles.
    for _ in range(int(rng.poisson(sp.scratch_rate))):
        x0, y0 = rng.random() * width, rng.random() * height
        angle = rng.random() * np.pi
        length = sp.scratch_length * float(np.exp(0.5 * rng.standard_normal()))
        drawn["scratch_lengths"].append(length)
        dx, dy = np.cos(angle), np.sin(angle)
        t = np.clip((x - x0) * dx + (y - y0) * dy, -length / 2, length / 2)
        dist = np.hypot(x - (x0 + t * dx), y - (y0 + t * dy))
        line = dist <= 0.5
        defect[line] = DefectCode[sp.scratch_class]
        hit |= line
    # Dead arrays: every device open.
    n_dead = min(int(rng.poisson(sp.dead_array_rate)), shape[0])
    if n_dead:
        dead = rng.choice(shape[0], size=n_dead, replace=False)
        defect[dead] = DefectCode.OPEN
        hit[dead] = True
    # Particle clusters: the devices nearest a random centre, sizes lognormal.
    weights = rates / rates.sum() if rates.sum() > 0 else np.array([1.0, 0, 0, 0])
    for _ in range(int(rng.poisson(sp.cluster_rate))):
        x0, y0 = rng.random() * width, rng.random() * height
        drawn_size = sp.cluster_size_median * np.exp(sp.cluster_size_sigma * rng.standard_normal())
        drawn["cluster_sizes"].append(float(drawn_size))
        size = max(1, int(round(drawn_size)))
        size = min(size, defect.size)
        d2 = (x - x0) ** 2 + (y - y0) ** 2 + 1e-6 * rng.random(shape)
        near = np.argpartition(d2.ravel(), size - 1)[:size]
        kinds = codes[rng.choice(4, size=size, p=weights)]
        defect.reshape(-1)[near] = kinds
        hit.reshape(-1)[near] = True
    die.spatial_hit = hit
    die.spatial_drawn = drawn
    die.state[defect == DefectCode.STUCK_P] = True
    die.state[defect == DefectCode.STUCK_AP] = False


def _telegraph(die: SimulatedDie) -> None:
    tg = die.profile.telegraph
    assert tg is not None
    rng = stream(die, STREAM_KEYS["telegraph"])
    shape = die.shape
    # the traps sit in the tunnel barrier: a short's current bypasses it, an open's is set by
    # the broken contact, so neither fluctuates (their draws are made all the same, so every
    # other device keeps its own)
    barrier = ~np.isin(die.defect, (DefectCode.SHORT, DefectCode.OPEN))
    has = (rng.random(shape) < tg.fraction) & barrier
    amp = np.minimum(tg.amplitude * np.exp(tg.amplitude_sigma * rng.standard_normal(shape)), 0.9)
    k_c = tg.rate * 10 ** (tg.rate_sigma * rng.standard_normal(shape))
    k_e = tg.rate * 10 ** (tg.rate_sigma * rng.standard_normal(shape))
    occupied = rng.random(shape) < k_c / (k_c + k_e)
    die.rtn_amplitude = np.where(has, amp, 0.0)
    die.rtn_rates = (k_c, k_e)
    die.rtn_occupied = occupied & has
    die.rtn_has = has
    die.rtn_time = np.zeros(shape[0])
    die.rtn_rngs = [stream(die, STREAM_KEYS["telegraph"], 1, a) for a in range(shape[0])]
