"""The ``[pinholes]`` section fitted from the TMR of the GOOD devices.

A pinhole leak ``g`` (S, ohmic) in parallel with a junction raises both levels by ``g``, so
the device's ratio ``G_P / G_AP`` falls from the die's ``T`` towards 1. Per GOOD device
``z = ln T - ln(G_P / G_AP)`` (``T`` the run's median ratio) is read noise and the devices'
own spread of TMR (a Gaussian of spread ``sigma``, the run's robust spread) for a device
without a leak, shifted by ``h(g) = ln T - ln((T G + g) / (G + g))`` (``G`` the run's median
AP conductance) for one with a leak. The leaks are lognormal (``g_median``, ``g_sigma``) on a
``fraction`` of the devices, those above what a short conducts broken into shorts (Wu et al.,
ETS 2019; the simulator's law). The three are fitted by binned maximum likelihood of ``z``
over all runs, uncertainties from the likelihood's curvature; the section is written only
when the likelihood ratio against no leaks passes ``LR_KEEP`` and the fitted law reproduces
the binned ``z`` (deviance p-value above ``P_SHAPE``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.optimize import minimize
from scipy.stats import chi2, norm

from mtj_hil.profile_fit.resistance import robust_sd
from mtj_hil.profile_fit.telegraph import device_ranges
from mtj_hil.protocols.defects.codes import DefectCode

LR_KEEP = 25.0
"""Likelihood ratio (2 ln L1/L0) the leaks must reach to be written."""
P_SHAPE = 1e-4
"""Deviance p-value the fitted law must reach on the binned ``z`` (else not written)."""
STEADY = 6.0
"""A device whose reads in one state range over more than this many read-noise sigmas is
left out (a fluctuator or a half-way switch)."""
SCREEN = 3.0
"""The full fit runs only when devices beyond this many sigmas exceed a Gaussian's share."""
G_FLOOR = 1e-9
"""Smallest leak (S) on the integration grid; smaller ones shift ``z`` by nothing."""


@dataclass
class PinholeData:
    """Per run: ``z`` of its GOOD devices, the spread without leaks, ``T``, ``G`` (S) and the
    largest leak that is not a short (S)."""

    z: np.ndarray
    sigma: float
    ratio: float
    g_ap: float
    g_max: float


def run_z(run) -> PinholeData | None:
    """``z`` of one run's GOOD devices whose repeated reads hold still (a device that
    jumps between reads is a fluctuator or a half-way switch, not a steady leak); None with
    too few devices."""
    char = run.char
    if char.codes is None:
        return None
    good = (char.codes == DefectCode.GOOD) & (char.g_p > 0) & (char.g_ap > 0)
    ranges = device_ranges(run)
    if ranges is not None:
        good &= ranges[0] <= STEADY * ranges[1]
    if good.sum() < 200:
        return None
    lr = np.log(char.g_p[good] / char.g_ap[good])
    centre = float(np.median(lr))
    shorts = char.g_p[char.codes == DefectCode.SHORT]
    g_p = float(np.median(char.g_p[good]))
    g_max = float(np.median(shorts)) - g_p if shorts.size >= 3 else 10 * g_p
    return PinholeData(
        centre - lr, robust_sd(lr), float(np.exp(centre)), float(np.median(char.g_ap[good])), g_max
    )


@dataclass
class PinholeFit:
    """``values`` key -> (value, sd, source); ``shown``: written; ``typical`` a run's data
    for :func:`tail_share`."""

    shown: bool
    values: dict[str, tuple[float, float | None, str]]
    lr: float
    p_shape: float
    typical: PinholeData | None = None

    @property
    def misfit(self) -> bool:
        """Leaks beyond chance whose TMR does not follow the leak law (not written)."""
        return self.lr > LR_KEEP and self.p_shape <= P_SHAPE


def tail_share(fit: PinholeFit, sigmas: float, seed: int = 3, m: int = 400_000) -> float:
    """Share of GOOD devices whose TMR lies more than ``sigmas`` robust sigmas below the
    rest under the fitted leaks (the TMR-tail check's statistic)."""
    d = fit.typical
    if not fit.shown or d is None:
        return 0.0
    rng = np.random.default_rng(seed)
    f = fit.values["fraction"][0]
    g = fit.values["g_median"][0] * np.exp(fit.values["g_sigma"][0] * rng.standard_normal(m))
    g = np.where((rng.random(m) < f) & (g < d.g_max), g, 0.0)
    t = d.ratio * np.exp(d.sigma * rng.standard_normal(m))
    z = np.log(d.ratio) - np.log((t * d.g_ap + g) / (d.g_ap + g))
    return float(np.mean(z - np.median(z) > sigmas * robust_sd(z)))


class _Binned:
    """Binned ``z`` of all runs and the law's bin probabilities for given parameters
    ``theta``: logit fraction, ln g_median, ln g_sigma, the centre's offset and ln of a
    common factor on the runs' spreads (both nuisances: leaks move the robust centre and
    spread a little)."""

    def __init__(self, data: list[PinholeData]) -> None:
        self.data = data
        sigma = float(np.median([d.sigma for d in data]))
        top = float(max(np.log(d.ratio) for d in data)) + 4 * sigma
        self.edges = np.r_[-np.inf, np.arange(-5 * sigma, top, sigma / 3), np.inf]
        self.counts = [np.histogram(d.z, self.edges)[0].astype(float) for d in data]
        self.grid = np.geomspace(G_FLOOR, max(d.g_max for d in data), 160)
        self.ln_grid = np.log(self.grid)
        self.h, self.shrink = [], []
        for d in data:
            t, g = d.ratio, d.g_ap
            self.h.append(np.log(t) - np.log((t * g + self.grid) / (g + self.grid)))
            # a leak compresses the device's own TMR spread by tG / (tG + g)
            self.shrink.append(t * g / (t * g + self.grid))

    def probabilities(self, theta: np.ndarray) -> list[np.ndarray]:
        f, mu, s = _unpack(theta)
        shift, scale = float(theta[3]), float(np.exp(theta[4]))
        w = norm.pdf((self.ln_grid - mu) / s)
        w = w / w.sum() * norm.sf((self.ln_grid[0] - mu) / s)
        low = norm.cdf((self.ln_grid[0] - mu) / s)  # leaks too small to see
        out = []
        for d, h, shrink in zip(self.data, self.h, self.shrink, strict=True):
            sig = d.sigma * scale
            e = self.edges[None, :] - shift
            k = np.diff(norm.cdf((e - h[:, None]) / (sig * shrink[:, None])), axis=1)
            k[self.grid > d.g_max] = 0.0  # broken into shorts: not among the GOOD devices
            leak = w @ k
            p0 = np.diff(norm.cdf((self.edges - shift) / sig))
            kept = 1.0 - f * (w.sum() - leak.sum())  # devices not broken into shorts
            out.append(((1 - f + f * low) * p0 + f * leak) / kept)
        return out

    def nll(self, theta: np.ndarray) -> float:
        ps = self.probabilities(theta)
        return -float(
            sum(c @ np.log(np.maximum(p, 1e-300)) for c, p in zip(self.counts, ps, strict=True))
        )


def _unpack(theta: np.ndarray) -> tuple[float, float, float]:
    return float(1 / (1 + np.exp(-theta[0]))), float(theta[1]), float(np.exp(theta[2]))


def fit_pinholes(data: list[PinholeData]) -> PinholeFit:
    """Fit ``fraction``, ``g_median`` and ``g_sigma`` (module docstring)."""
    b = _Binned(data)
    g0 = float(np.median([d.g_ap for d in data]))
    null = minimize(
        lambda x: b.nll(np.array([-30.0, np.log(g0), 0.0, x[0], x[1]])),
        np.zeros(2),
        method="Nelder-Mead",
    )
    best = None
    for mu0 in np.log(g0) + np.array([-2.5, -1.5, -0.5]):
        r = minimize(
            b.nll,
            np.array([-4.0, mu0, 0.0, 0.0, -0.03]),
            method="Nelder-Mead",
            options={"xatol": 1e-4, "fatol": 1e-3, "maxiter": 6000},
        )
        if best is None or r.fun < best.fun:
            best = r
    lr = 2 * (null.fun - best.fun)
    cov = _inverse_hessian(b.nll, best.x)
    f, mu, s = _unpack(best.x)
    sd = np.sqrt(np.clip(np.diag(cov), 0, None))
    counts = np.sum(b.counts, axis=0)
    p_shape = _shape(b, best.x, counts)
    how = f"TMR of {int(counts.sum())} GOOD devices against leaks in parallel; LR {lr:.0f}"
    values = {
        "fraction": (f, float(f * (1 - f) * sd[0]), how),
        "g_median": (float(np.exp(mu)), float(np.exp(mu) * sd[1]), how),
        "g_sigma": (s, float(s * sd[2]), how),
    }
    typical = data[int(np.argsort([d.sigma for d in data])[len(data) // 2])]
    return PinholeFit(lr > LR_KEEP and p_shape > P_SHAPE, values, float(lr), p_shape, typical)


def _shape(b: _Binned, theta: np.ndarray, counts: np.ndarray) -> float:
    """Deviance p-value of the pooled binned ``z`` against the fitted law."""
    expect = sum(c.sum() * p for c, p in zip(b.counts, b.probabilities(theta), strict=True))
    used = expect >= 5
    o, e = counts[used], expect[used]
    dev = 2 * float(np.sum(np.where(o > 0, o * np.log(np.maximum(o, 1) / e), 0.0) - (o - e)))
    return float(chi2.sf(dev, max(int(used.sum()) - 5, 1)))


def _inverse_hessian(fun, x: np.ndarray) -> np.ndarray:
    """Inverse of the finite-difference Hessian of ``fun`` at ``x``."""
    n = x.size
    h = np.full(n, 1e-3)
    hess = np.zeros((n, n))
    f0 = fun(x)
    for i in range(n):
        for j in range(i, n):
            e_i, e_j = np.eye(n)[i] * h[i], np.eye(n)[j] * h[j]
            val = (fun(x + e_i + e_j) - fun(x + e_i) - fun(x + e_j) + f0) / (h[i] * h[j])
            hess[i, j] = hess[j, i] = val
    try:
        return np.linalg.inv(hess)
    except np.linalg.LinAlgError:
        return np.linalg.pinv(hess)


def put_pinholes(chars, base, put, data: dict) -> PinholeFit | None:
    """Fit ``[pinholes]`` from ``chars`` and put it when the TMR shows leaks."""
    got = [d for d in (run_z(c) for c in chars) if d is not None]
    if not got:
        return None
    # a quick screen first: devices beyond SCREEN sigmas against what a Gaussian puts there
    beyond = sum(int((d.z > SCREEN * d.sigma).sum()) for d in got)
    expect = norm.sf(SCREEN) * sum(d.z.size for d in got)
    if beyond < expect + 5 * np.sqrt(expect) + 10:
        data.pop("pinholes", None)
        return PinholeFit(False, {}, 0.0, 1.0)
    fit = fit_pinholes(got)
    if not fit.shown:
        data.pop("pinholes", None)
        return fit
    data["pinholes"] = {}
    for key, (value, sd, source) in fit.values.items():
        put("pinholes", key, value, sd, source)
    return fit
