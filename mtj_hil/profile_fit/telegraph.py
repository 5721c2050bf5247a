"""The ``[telegraph]`` section fitted from the repeated reads of each GOOD device.

A device with a two-level fluctuator reads at two levels ``ln(1 - amplitude)`` apart; over the
``cycles x reads`` reads of each state a device whose trap changed state between reads shows
a jump. The statistic per device is ``J``: the largest range (max - min of ln G) of its reads
within one state, both states looked at. Read noise alone gives ranges of a few read-noise
sigmas; a fluctuator adds its amplitude whenever its trap moved between reads.

How often a trap moves between reads depends on its capture and emission rates, which a
few reads per device cannot tell apart from the fraction of devices with a trap: the rates'
law (``rate``, ``rate_sigma``) and the spread of the amplitude (``amplitude_sigma``) are
taken from the base profile's ``[telegraph]`` (else the simulator's defaults) and listed as
defaults. With them the law of ``J`` is simulated (the simulator's two-state process at the
reads' times: the run's arrays' durations split evenly over the reads, the measured read
noise added) for a grid of median amplitudes, and ``fraction`` and ``amplitude`` are fitted by
binned maximum likelihood of the ``J`` of all GOOD devices above ``J_LOW`` read-noise sigmas
(the mixture of devices without and with a trap); their 95 % intervals from the profile
likelihood. Written only when the likelihood ratio against no fluctuators passes ``LR_KEEP``
and the fitted mixture reproduces the binned ranges (deviance p-value above ``P_SHAPE``) and
the jumps go both ways alike in both states (a write that stops half-way leaves a P read low
and an AP read high; ``Z_DIRECTION``).
Ranges above ``J_HIGH`` (ln G) are left out: a write that did not hold, or a half-way switch
(the TMR-tail and writes checks report those).
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np
from scipy.integrate import trapezoid
from scipy.optimize import minimize_scalar
from scipy.stats import chi2, norm

from mtj_hil.profile_fit.resistance import robust_sd
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.sim.profile_sections import Telegraph

J_LOW = 7.0
"""Ranges below this many read-noise sigmas are not binned (noise dominates there)."""
J_HIGH = 0.35
"""Ranges above this (ln G) are left out: failed or half-way writes, not a fluctuator."""
LR_KEEP = 25.0
"""Likelihood ratio (2 ln L1/L0) the fluctuators must reach to be written."""
N_SIM = 200_000
"""Simulated devices per amplitude of the grid."""
P_SHAPE = 1e-4
"""The fitted mixture must reproduce the binned ranges at this p-value (deviance test), else
the jumps are something else (half-way switches) and nothing is written."""
Z_DIRECTION = 5.0
"""P jumps low and AP jumps high more than this (z) are half-way switches: not written."""
SPACING_REL = 0.05
"""Relative systematic of the fraction from the assumed spacing of the reads."""


@dataclass
class TelegraphData:
    """Per GOOD device its range statistic ``j`` (ln G), the read noise (ln G per read), the
    reads' shape and the mean time between reads (s)."""

    j: np.ndarray
    noise: float
    reads_per_state: int
    dt: float
    direction: np.ndarray  # (P, AP) x (jumps, of them with the odd read low)


def device_ranges(run) -> tuple[np.ndarray, float, int, np.ndarray] | None:
    """Per device (codes' shape) the largest range of ln G within one state over its
    repeated reads, the read noise per read (ln G: robust spread of the GOOD devices'
    residuals from their means, which the few fluctuators do not move) and the reads per
    state, and per state (P, AP) how many GOOD devices jump by more than ``J_LOW`` sigmas and
    how many of those with their odd read low (None: fewer than 3 reads)."""
    raw_p, raw_ap = run.raws("g_after_p", "g_after_ap")
    cycles, reads = raw_p.shape[:2]
    n = cycles * reads
    if n < 3:
        return None
    good = run.char.codes == DefectCode.GOOD
    ranges, resid, low = [], [], []
    for g in (raw_p, raw_ap):
        with np.errstate(divide="ignore", invalid="ignore"), warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)
            ln = np.log(np.where(g > 0, g, np.nan)).reshape(n, *g.shape[2:])
            ranges.append(np.nanmax(ln, axis=0) - np.nanmin(ln, axis=0))
            resid.append((ln[:, good] - np.nanmean(ln[:, good], axis=0)).ravel())
            low.append(np.nanmean(ln, axis=0) < np.nanmedian(ln, axis=0))
    noise = robust_sd(np.concatenate(resid)) * np.sqrt(n / (n - 1))
    direction = np.zeros((2, 2), int)
    for k in range(2):
        jump = good & (ranges[k] > J_LOW * noise) & (ranges[k] <= J_HIGH)
        direction[k] = (int(jump.sum()), int((jump & low[k]).sum()))
    return np.fmax(ranges[0], ranges[1]), float(noise), n, direction


def run_statistic(run) -> TelegraphData | None:
    """The range statistic of the GOOD devices of one run (None: fewer than 3 reads per
    state)."""
    got = device_ranges(run)
    if got is None:
        return None
    ranges, noise, n, direction = got
    j = ranges[run.char.codes == DefectCode.GOOD]
    char = run.char
    if char.array_time is not None:
        dt = float(np.mean(np.diff(char.array_time, axis=1))) / (2 * n)
    else:
        dt = float("nan")
    return TelegraphData(j[np.isfinite(j)], noise, n, dt, direction)


def simulate_j(
    amplitude: float, sec: Telegraph, noise: float, n: int, dt: float, rng: np.random.Generator
) -> np.ndarray:
    """``J`` of ``N_SIM`` devices that all carry a fluctuator (``amplitude`` the median
    amplitude), as the simulator makes them: two states with lognormal rates, the reads of
    both states interleaved ``dt`` apart (``n`` per state), read noise ``noise``."""
    return Fluctuators(sec, noise, n, dt, rng).ranges(amplitude)


class Fluctuators:
    """``m`` simulated devices with a fluctuator: every random draw of their reads, made once.

    None of the draws depends on the amplitude (it only scales each device's drawn spread),
    so one set serves every amplitude of the fit's grid (common random numbers), and
    :meth:`reads` gives, for any amplitude, the numbers a fresh draw from the same ``rng``
    state would give.
    """

    def __init__(
        self,
        sec: Telegraph,
        noise: float,
        n: int,
        dt: float,
        rng: np.random.Generator,
        m: int = N_SIM,
    ) -> None:
        self.spread = np.exp(sec.amplitude_sigma * rng.standard_normal(m))
        k_c = sec.rate * 10 ** (sec.rate_sigma * rng.standard_normal(m))
        k_e = sec.rate * 10 ** (sec.rate_sigma * rng.standard_normal(m))
        p_inf = k_c / (k_c + k_e)
        decay = np.exp(-(k_c + k_e) * dt)
        occ = np.empty((2 * n, m), bool)
        occ[0] = rng.random(m) < p_inf
        for k in range(1, 2 * n):
            p = np.where(occ[k - 1], p_inf + (1 - p_inf) * decay, p_inf * (1 - decay))
            occ[k] = rng.random(m) < p
        self.occupied = occ
        """Whether each device's trap is occupied at each read, ``(2 n, m)``."""
        self.read_noise = noise * rng.standard_normal(occ.shape)
        """Read noise of each read (ln G), ``(2 n, m)``."""
        self._extremes: list[tuple[np.ndarray, ...]] | None = None

    def reads(self, amplitude: float) -> np.ndarray:
        """ln G of the reads, ``(2 n, m)``, for the median amplitude ``amplitude``."""
        amp = np.minimum(amplitude * self.spread, 0.9)
        levels = np.where(self.occupied, np.log1p(-amp), 0.0)
        levels += self.read_noise
        return levels

    def ranges(self, amplitude: float) -> np.ndarray:
        """``J`` of the reads for the median amplitude ``amplitude``, ``(m,)``: the larger of
        the ranges of the P reads and of the AP reads (they alternate in :meth:`reads`).

        The same numbers as the ranges of :meth:`reads`, from each device's largest and
        smallest read noise with its trap empty and occupied (found once): the trap's level,
        added to every occupied read, moves their extremes by just that (rounding keeps the
        order), so the fit's grid of amplitudes does not build every read again."""
        if self._extremes is None:
            self._extremes = [
                _extremes(self.occupied[state::2], self.read_noise[state::2]) for state in (0, 1)
            ]
        level = np.log1p(-np.minimum(amplitude * self.spread, 0.9))
        j_p, j_ap = (
            np.maximum(hi_empty, hi_occ + level) - np.minimum(lo_empty, lo_occ + level)
            for hi_empty, lo_empty, hi_occ, lo_occ in self._extremes
        )
        return np.fmax(j_p, j_ap)


def _extremes(occupied: np.ndarray, noise: np.ndarray) -> tuple[np.ndarray, ...]:
    """Per device (column): the largest and smallest of ``noise`` over the reads with the
    trap empty, then over those with it occupied (-inf and inf where there are none)."""
    return (
        np.where(occupied, -np.inf, noise).max(axis=0),
        np.where(occupied, np.inf, noise).min(axis=0),
        np.where(occupied, noise, -np.inf).max(axis=0),
        np.where(occupied, noise, np.inf).min(axis=0),
    )


def noise_j_cdf(x: np.ndarray, noise: float, n: int) -> np.ndarray:
    """CDF of ``J`` for a device without a fluctuator (read noise only), exactly: the larger
    of two independent ranges of ``n`` normal reads, ``P(R <= r) = n int phi(u) (Phi(u + r) -
    Phi(u))^(n-1) du`` (a simulation would put too few devices in the far tail)."""
    u = np.linspace(-9.0, 9.0, 3601)
    r = np.asarray(x, float)[:, None] / noise
    inner = np.clip(norm.cdf(u[None, :] + r) - norm.cdf(u)[None, :], 0.0, 1.0) ** (n - 1)
    one = n * trapezoid(norm.pdf(u)[None, :] * inner, u, axis=1)
    return np.clip(one, 0.0, 1.0) ** 2


@dataclass
class TelegraphFit:
    """``values`` key -> (value, sd, source); ``shown``: the LR passed; and what the reads
    were (read noise, reads per state, time between reads) for :func:`tail_share`."""

    shown: bool
    values: dict[str, tuple[float, float | None, str]]
    lr: float
    noise: float
    n: int
    dt: float
    p_shape: float = 1.0
    z_direction: float = 0.0

    @property
    def misfit(self) -> bool:
        """Jumps beyond chance that do not follow the fluctuator law (not written)."""
        return self.lr > LR_KEEP and not self.shown


def tail_share(fit: TelegraphFit, sec: Telegraph, sigmas: float, seed: int = 2) -> float:
    """Share of P reads more than ``sigmas`` robust sigmas from their device's mean that the
    fitted fluctuators and read noise make (the read-noise check's statistic)."""
    if not fit.shown:
        return 0.0
    rng = np.random.default_rng(seed)
    f, amp = fit.values["fraction"][0], fit.values["amplitude"][0]
    with_trap = Fluctuators(sec, fit.noise, fit.n, fit.dt, rng).reads(amp)[0::2]
    k = int(round(f * with_trap.shape[1]))
    x = fit.noise * rng.standard_normal(with_trap.shape)
    x[:, :k] = with_trap[:, :k]
    r = (x - x.mean(axis=0)) * np.sqrt(fit.n / (fit.n - 1))
    return float(np.mean(np.abs(r) > sigmas * robust_sd(r)))


def fit_telegraph(data: list[TelegraphData], sec: Telegraph, seed: int = 0) -> TelegraphFit:
    """Fit ``fraction`` and ``amplitude`` (module docstring) with ``sec``'s other values."""
    noise = float(np.median([d.noise for d in data]))
    n = int(np.median([d.reads_per_state for d in data]))
    dts = [d.dt for d in data if np.isfinite(d.dt)]
    dt = float(np.median(dts)) if dts else 1.0 / (2 * sec.rate)
    j = np.concatenate([d.j for d in data])
    total = j.size
    lo = J_LOW * noise
    edges = np.r_[np.geomspace(lo, J_HIGH, 40)]
    counts = np.histogram(j, edges)[0].astype(float)
    below = float((j < lo).sum())  # the devices not binned count through the share below lo
    cdf0 = noise_j_cdf(np.r_[lo, edges[1:]], noise, n)
    q0 = np.maximum(np.r_[cdf0[0], np.diff(np.r_[cdf0[0], cdf0[1:]])], 1e-300)
    grid = np.geomspace(max(lo / 2, 1e-3), 0.5, 60)

    def nll(f: float, q1) -> float:
        p = (1 - f) * q0 + f * q1
        return -float(counts @ np.log(np.maximum(p[1:], 1e-300)) + below * np.log(p[0]))

    base = nll(0.0, q0)
    prof = []
    traps = Fluctuators(sec, noise, n, dt, np.random.default_rng(seed + 1))
    for a in grid:
        q1 = _binned(traps.ranges(a), edges, lo)
        res = minimize_scalar(lambda f, q1=q1: nll(f, q1), bounds=(0.0, 1.0), method="bounded")
        prof.append((res.fun, res.x, q1))
    i = int(np.argmin([p[0] for p in prof]))
    best, f_best, q1 = prof[i]
    lr = 2 * (base - best)
    # shape: the binned counts against the fitted mixture (deviance, bins with >= 5 expected)
    expect = total * ((1 - f_best) * q0 + f_best * q1)[1:]
    used = expect >= 5
    obs = counts[used]
    dev = 2 * float(
        np.sum(
            np.where(obs > 0, obs * np.log(np.maximum(obs, 1) / expect[used]), 0)
            - (obs - expect[used])
        )
    )
    p_shape = float(chi2.sf(dev, max(int(used.sum()) - 2, 1)))
    # amplitude interval from the profile likelihood (parabola through the grid's minimum)
    ln_a = np.log(grid)
    nl = np.array([p[0] for p in prof])
    a_best, f_at = _vertex(ln_a, nl, i), f_best
    if 0 < i < len(grid) - 1:  # the fraction where the parabola's vertex lies
        f_at = float(np.interp(a_best, ln_a[i - 1 : i + 2], [p[1] for p in prof[i - 1 : i + 2]]))
    a_best = float(np.exp(a_best))
    sd_a = _profile_sd(ln_a, nl, i) * a_best
    # fraction: its profile likelihood (the amplitude re-fitted at each fraction)
    fs = f_best * np.linspace(0.7, 1.3, 7) if f_best > 0 else np.linspace(0, 1e-3, 7)
    nl_f = np.array([min(nll(f, p[2]) for p in prof) for f in fs])
    sd_f = _profile_sd(fs, nl_f, int(np.argmin(nl_f)))
    # the reads' spacing is known only as the arrays' durations split evenly over the reads:
    # +-40 % on it moves the fraction by ~5 % (closure runs of the simulator)
    sd_f = float(np.hypot(sd_f, SPACING_REL * f_best))
    how = (
        f"ranges of the repeated reads of {total} GOOD devices ({n} per state), rates and "
        f"amplitude spread assumed as the base's (rate {sec.rate:g}/s, rate_sigma "
        f"{sec.rate_sigma:g}, amplitude_sigma {sec.amplitude_sigma:g}); LR {lr:.0f}"
    )
    values = {
        "fraction": (float(f_at), sd_f, how),
        "amplitude": (a_best, float(sd_a), how),
    }
    z_dir = _direction_z(np.sum([d.direction for d in data], axis=0))
    shown = lr > LR_KEEP and p_shape > P_SHAPE and z_dir < Z_DIRECTION
    return TelegraphFit(shown, values, float(lr), noise, n, dt, p_shape, z_dir)


def _direction_z(direction: np.ndarray) -> float:
    """How much more often P jumps have their odd read low than AP jumps (z of two
    proportions). A trap lowers the conductance in either state alike; a write that stops
    half-way leaves a P read low and an AP read high."""
    (n_p, low_p), (n_ap, low_ap) = direction
    if min(n_p, n_ap) < 5:
        return 0.0
    q = (low_p + low_ap) / (n_p + n_ap)
    se = np.sqrt(max(q * (1 - q), 1e-12) * (1 / n_p + 1 / n_ap))
    return float((low_p / n_p - low_ap / n_ap) / se)


def _binned(sim: np.ndarray, edges: np.ndarray, lo: float) -> np.ndarray:
    """Share below ``lo``, then per bin (tiny floor: a bin the simulation missed)."""
    inner = np.histogram(sim, edges)[0] / sim.size
    return np.maximum(np.r_[np.mean(sim < lo), inner], 1e-9)


def _vertex(x: np.ndarray, nl: np.ndarray, i: int) -> float:
    """The minimum of the parabola through the grid's minimum and its neighbours."""
    if not 0 < i < x.size - 1:
        return float(x[i])
    c = np.polyfit(x[i - 1 : i + 2], nl[i - 1 : i + 2], 2)
    return float(np.clip(-c[1] / (2 * c[0]), x[i - 1], x[i + 1])) if c[0] > 0 else float(x[i])


def _profile_sd(x: np.ndarray, nl: np.ndarray, i: int) -> float:
    """Standard deviation of ``x`` from the curvature of the negative log-likelihood."""
    k = np.clip([i - 1, i, i + 1], 0, x.size - 1)
    if len(set(k.tolist())) < 3:
        return float(np.ptp(x) / 2)
    c = np.polyfit(x[k], nl[k], 2)[0]
    return float(1 / np.sqrt(2 * c)) if c > 0 else float(np.ptp(x) / 2)


def put_telegraph(chars, base, put, data: dict, defaults: list[str]) -> TelegraphFit | None:
    """Fit ``[telegraph]`` from ``chars`` and put it when the reads show fluctuators;
    returns the fit (None: nothing to fit from)."""
    sec = base.telegraph or Telegraph()
    got = [d for d in (run_statistic(c) for c in chars) if d is not None]
    if not got:
        if base.telegraph is not None:
            defaults += [f"telegraph.{k}" for k in ("fraction", "amplitude")]
        return None
    fit = fit_telegraph(got, sec)
    if not fit.shown:
        data.pop("telegraph", None)
        return fit
    data["telegraph"] = {
        "fraction": 0.0,
        "amplitude": sec.amplitude,
        "amplitude_sigma": sec.amplitude_sigma,
        "rate": sec.rate,
        "rate_sigma": sec.rate_sigma,
    }
    for key, (value, sd, source) in fit.values.items():
        put("telegraph", key, value, sd, source)
    defaults += ["telegraph.amplitude_sigma", "telegraph.rate", "telegraph.rate_sigma"]
    return fit
