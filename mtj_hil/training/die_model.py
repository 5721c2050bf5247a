"""Conductance models of dies: one measured die (:class:`DieModel`) and a population of dies
(:class:`PopulationModel`) for statistics-aware training. All conductances in siemens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from mtj_hil.protocols.chip import Layout
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.training.errors import TrainingError

DEFECTS = (DefectCode.SHORT, DefectCode.OPEN, DefectCode.STUCK_P, DefectCode.STUCK_AP)


def _shape(layout: Layout) -> tuple[int, int, int]:
    return (layout.n_arrays, layout.rows, layout.cols)


def conductance_for(
    g_p: np.ndarray, g_ap: np.ndarray, defects: np.ndarray, bits: np.ndarray
) -> np.ndarray:
    """Conductance each device shows once programmed to ``bits`` (1 = P, 0 = AP).

    GOOD devices follow their bit; SHORT, OPEN and STUCK_P show ``g_p`` whatever the bit,
    STUCK_AP shows ``g_ap``. UNCERTAIN devices (the characterisation could not settle them)
    are modelled with their measured ``g_p`` / ``g_ap``, following their bit; defect-aware
    training still treats them as suspect (see ``methods.defect_masks``). All arrays
    broadcast (leading batch axes allowed).
    """
    follows = (defects == DefectCode.GOOD) | (defects == DefectCode.UNCERTAIN)
    fixed = np.where(defects == DefectCode.STUCK_AP, g_ap, g_p)
    return np.where(follows, np.where(bits.astype(bool), g_p, g_ap), fixed)


def sample_read(conductance: np.ndarray, sigma: float, rng: np.random.Generator) -> np.ndarray:
    """One noisy read of every device: ``G * (1 + sigma * N(0, 1))`` (relative Gaussian noise)."""
    if sigma <= 0:
        return np.asarray(conductance, dtype=np.float64)
    return conductance * (1.0 + sigma * rng.standard_normal(np.shape(conductance)))


@dataclass
class DieModel:
    """What one die shows: per-device P and AP conductance, defect codes and read noise.

    Attributes:
        layout: die geometry.
        g_p: conductance (S) of each device in P, shape ``(n_arrays, rows, cols)``. For SHORT,
            OPEN and STUCK_P devices this holds their measured (fixed) conductance.
        g_ap: conductance (S) in AP; for STUCK_AP devices, their measured conductance.
        defects: ``DefectCode`` per device (uint8), same shape.
        read_noise: relative read-noise standard deviation (e.g. 0.01 = 1 %).

    Raises:
        TrainingError: shapes do not match the layout, values are negative or not finite,
            or a defect code is unknown.
    """

    layout: Layout
    g_p: np.ndarray
    g_ap: np.ndarray
    defects: np.ndarray
    read_noise: float = 0.0

    def __post_init__(self) -> None:
        shape = _shape(self.layout)
        for name in ("g_p", "g_ap"):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            arr = np.broadcast_to(arr, shape).copy() if arr.ndim == 0 else arr
            if arr.shape != shape:
                raise TrainingError(f"{name} has shape {arr.shape}; expected {shape}")
            if not np.all(np.isfinite(arr)) or np.any(arr < 0):
                raise TrainingError(f"{name} must be finite and non-negative (S)")
            setattr(self, name, arr)
        codes = np.asarray(self.defects)
        if codes.shape != shape:
            raise TrainingError(f"defects has shape {codes.shape}; expected {shape}")
        if codes.size and (codes.min() < 0 or codes.max() > max(DefectCode)):
            raise TrainingError(f"unknown defect codes in {np.unique(codes).tolist()}")
        self.defects = codes.astype(np.uint8)
        if not (np.isfinite(self.read_noise) and self.read_noise >= 0):
            raise TrainingError(f"read_noise must be >= 0, got {self.read_noise}")

    @classmethod
    def ideal(cls, layout: Layout, read_noise: float = 0.0) -> DieModel:
        """A die of nominal devices and no defects."""
        shape = _shape(layout)
        return cls(
            layout,
            np.full(shape, layout.nominal_g_p),
            np.full(shape, layout.nominal_g_ap),
            np.zeros(shape, dtype=np.uint8),
            read_noise,
        )

    def conductance(self, bits: np.ndarray) -> np.ndarray:
        """Noise-free conductance (S) each device shows after programming ``bits``
        (uint8/bool ``(n_arrays, rows, cols)``, 1 = P)."""
        b = np.asarray(bits)
        if b.shape != self.g_p.shape:
            raise TrainingError(f"bits have shape {b.shape}; expected {self.g_p.shape}")
        return conductance_for(self.g_p, self.g_ap, self.defects, b)

    def read(self, bits: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """One noisy read of every device after programming ``bits`` (S)."""
        return sample_read(self.conductance(bits), self.read_noise, rng)

    def counts(self) -> dict[str, int]:
        """Number of devices per defect code name."""
        return {c.name: int(np.count_nonzero(self.defects == c)) for c in DefectCode}

    def state_thresholds(self) -> np.ndarray:
        """Per-device conductance (S, ``(n_arrays, rows, cols)``) that separates P from AP
        in a write-verify: the geometric mean of the device's own measured levels,
        ``sqrt(g_p g_ap)``, equally far from both in relative terms (read noise is mostly
        relative). Devices without two ordered levels (a defect, a level missing or
        ``g_p <= g_ap``) get the layout's nominal threshold."""
        own = (
            ((self.defects == DefectCode.GOOD) | (self.defects == DefectCode.UNCERTAIN))
            & (self.g_ap > 0)
            & (self.g_p > self.g_ap)
        )
        return np.where(own, np.sqrt(self.g_p * self.g_ap), self.layout.threshold_g)


@dataclass
class PopulationModel:
    """Statistics of a population of dies, and a vectorised sampler of die realisations.

    Attributes:
        layout: die geometry.
        g_p_median, g_p_sigma: lognormal median (S) and log-sigma of good devices in P.
        g_ap_median, g_ap_sigma: the same in AP.
        defect_rates: mean fraction of devices per defect code (SHORT, OPEN, STUCK_P, STUCK_AP).
        rate_spread: die-to-die log-sigma of the defect rates (a die's rates are the mean
            rates times one lognormal factor of unit mean, shared by all defect kinds).
        short_median, short_sigma: lognormal conductance (S) of shorted devices.
        open_g: conductance (S) of an open device.
        read_noise: relative read-noise sigma carried into sampled dies.
    """

    layout: Layout
    g_p_median: float
    g_p_sigma: float
    g_ap_median: float
    g_ap_sigma: float
    defect_rates: dict[DefectCode, float] = field(default_factory=dict)
    rate_spread: float = 0.0
    short_median: float = 0.6e-3
    short_sigma: float = 0.1
    open_g: float = 0.0
    read_noise: float = 0.0

    def __post_init__(self) -> None:
        self.defect_rates = {DefectCode(k): float(v) for k, v in self.defect_rates.items()}
        if sum(self.defect_rates.values()) >= 1 or min(self.defect_rates.values(), default=0) < 0:
            raise TrainingError(f"defect rates must be >= 0 and sum below 1: {self.defect_rates}")
        if min(self.g_p_median, self.g_ap_median) <= 0:
            raise TrainingError("median conductances must be positive")

    @classmethod
    def nominal(cls, layout: Layout, variation: float = 0.05, **kwargs: Any) -> PopulationModel:
        """Population centred on the layout's nominal conductances with ``variation`` log-sigma."""
        return cls(layout, layout.nominal_g_p, variation, layout.nominal_g_ap, variation, **kwargs)

    def sample(self, rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``n`` die realisations at once.

        Returns:
            ``(g_p, g_ap, defects)``, each of shape ``(n, n_arrays, rows, cols)``; defective
            devices carry their fixed conductance as :class:`DieModel` expects.
        """
        shape = (n, *_shape(self.layout))
        g_p = self.g_p_median * np.exp(self.g_p_sigma * rng.standard_normal(shape))
        g_ap = self.g_ap_median * np.exp(self.g_ap_sigma * rng.standard_normal(shape))
        codes = np.zeros(shape, dtype=np.uint8)
        rates = np.array([self.defect_rates.get(c, 0.0) for c in DEFECTS])
        if rates.sum() > 0:
            s = self.rate_spread
            # one factor per die for all defect kinds, as fitted (spread of the total rate)
            die_rates = rates[None, :] * np.exp(s * rng.standard_normal((n, 1)) - s * s / 2)
            edges = np.cumsum(die_rates, axis=1)  # (n, 4)
            if np.any(edges[:, -1] >= 1):
                edges = edges / np.maximum(edges[:, -1:], 1.0) * 0.999
            u = rng.random(shape)
            bins = (u[..., None] >= edges[:, None, None, None, :]).sum(axis=-1)  # 0..4
            kinds = np.array([*(int(c) for c in DEFECTS), 0], dtype=np.uint8)
            codes = kinds[bins]
            short = codes == DefectCode.SHORT
            g_short = self.short_median * np.exp(self.short_sigma * rng.standard_normal(shape))
            g_p = np.where(short, g_short, g_p)
            g_p = np.where(codes == DefectCode.OPEN, self.open_g, g_p)
            # STUCK_P keeps its g_p draw; STUCK_AP keeps its g_ap draw
        return g_p, g_ap, codes

    def sample_die(self, rng: np.random.Generator) -> DieModel:
        """One realisation as a :class:`DieModel`."""
        g_p, g_ap, codes = self.sample(rng, 1)
        return DieModel(self.layout, g_p[0], g_ap[0], codes[0], self.read_noise)

    def pool(
        self, rng: np.random.Generator, size: int, bits_axis: bool = True
    ) -> tuple[np.ndarray, np.ndarray]:
        """A pool of ``size`` realisations as (conductance if bit 1, conductance if bit 0),
        each ``(size, n_arrays, rows, cols)``; feed to :func:`mapping.weight_response`."""
        g_p, g_ap, codes = self.sample(rng, size)
        ones = np.ones(codes.shape, dtype=bool)
        return (conductance_for(g_p, g_ap, codes, ones), conductance_for(g_p, g_ap, codes, ~ones))

    @classmethod
    def fit(cls, dies: Sequence[DieModel], min_rate_spread: float = 0.0) -> PopulationModel:
        """Estimate population statistics from measured dies.

        Lognormal medians/sigmas come from the good devices pooled over dies; defect rates are
        the mean per-die fractions; ``rate_spread`` is the standard deviation of the log of the
        per-die total defect fraction (0 when fewer than two dies have defects).

        Raises:
            TrainingError: no dies, layouts differ, or no good devices.
        """
        if not dies:
            raise TrainingError("fit needs at least one die")
        layout = dies[0].layout
        if any(d.layout != layout for d in dies):
            raise TrainingError("all dies must share one layout")
        good = np.stack([d.defects == DefectCode.GOOD for d in dies])
        if not good.any():
            raise TrainingError("no good devices to fit conductance statistics on")
        lp = np.log(np.stack([d.g_p for d in dies])[good])
        la = np.log(np.stack([d.g_ap for d in dies])[good])
        codes = np.stack([d.defects for d in dies])
        per_die = np.array([[np.mean(c == k) for k in DEFECTS] for c in codes])
        rates = {k: float(r) for k, r in zip(DEFECTS, per_die.mean(axis=0), strict=True)}
        totals = per_die.sum(axis=1)
        pos = totals[totals > 0]
        spread = float(np.std(np.log(pos))) if pos.size > 1 else 0.0
        shorts = np.concatenate([d.g_p[d.defects == DefectCode.SHORT] for d in dies])
        short_median, short_sigma = 0.6e-3, 0.1
        if shorts.size:
            ls = np.log(np.maximum(shorts, 1e-12))
            short_median, short_sigma = float(np.exp(ls.mean())), float(ls.std())
        opens = np.concatenate([d.g_p[d.defects == DefectCode.OPEN] for d in dies])
        return cls(
            layout,
            float(np.exp(lp.mean())),
            float(lp.std()),
            float(np.exp(la.mean())),
            float(la.std()),
            rates,
            max(spread, min_rate_spread),
            short_median,
            short_sigma,
            float(opens.mean()) if opens.size else 0.0,
            float(np.mean([d.read_noise for d in dies])),
        )
