"""The sections of a die profile as dataclasses (see :mod:`mtj_hil.sim.profile`); SI units."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Geometry:
    n_arrays: int
    rows: int
    cols: int
    cell: str


@dataclass(frozen=True)
class Resistance:
    r_p_median: float
    r_p_sigma: float
    r_ap_median: float
    r_ap_sigma: float
    rp_rap_correlation: float


@dataclass(frozen=True)
class Switching:
    vc_to_p: float
    vc_to_ap: float
    vc_sigma: float
    delta: float
    tau0: float
    write_error_floor: float
    half_select: bool
    breakdown_voltage: float
    breakdown_sigma: float
    breakdown_floor: float
    delta_sigma: float = 0.0
    """Relative device-to-device spread of Delta (0: every device has ``delta``)."""


@dataclass(frozen=True)
class Defects:
    short_rate: float
    open_rate: float
    stuck_p_rate: float
    stuck_ap_rate: float
    die_spread: float
    line_open_rate: float
    short_g_median: float
    short_g_sigma: float
    open_g: float
    line_short_rate: float = 0.0
    """Expected input lines per array whose every cell is shorted (optional key)."""


@dataclass(frozen=True)
class ReadModel:
    noise_rel: float
    noise_abs: float
    offset_sigma: float
    adc_bits: int
    adc_full_scale: float
    line_resistance: float
    read_width: float = 1e-7
    """Duration (s) a read voltage stays on an input line per read vector; sets read disturb
    (optional in profile files; 100 ns when absent)."""


@dataclass(frozen=True)
class BiasDependence:
    """Bias dependence of the tunnelling conductance (optional ``[bias]`` profile section).

    Each device follows a parabolic (Brinkman-type) law ``G(V) = G0 (1 + k V**2)`` with its
    own curvature ``k`` (1/V^2) per state: the AP curvature is set so that the TMR of a
    median device halves at ``v_half``; the P curvature is ``p_curvature`` times the AP one.
    Shorts are ohmic (``k = 0``); opens carry no current worth modelling (``k = 0``).
    """

    v_half: float
    """Bias (V) at which the TMR of a device with the median TMR falls to half its zero-bias
    value."""
    v_half_sigma: float
    """Relative device-to-device spread (1 sigma, lognormal) of ``v_half``."""
    p_curvature: float
    """Curvature of the P state as a fraction of the AP state's (0 <= p < 1)."""

    def ap_curvature(self, tmr: float, v_half: np.ndarray | float) -> np.ndarray:
        """AP curvature ``k_AP`` (1/V^2) giving a device of zero-bias ``tmr`` (e.g. 0.3) a TMR
        of ``tmr / 2`` at ``v_half`` (V)."""
        return (0.5 * tmr) / (np.square(v_half) * self._halving_gap(tmr))

    def _halving_gap(self, tmr: float) -> float:
        """``(1 + TMR/2) - r (1 + TMR)``: the law's factor between ``k_AP v_half^2`` and
        ``TMR / 2`` (positive for every valid ``p_curvature`` ``r``)."""
        return (1.0 + 0.5 * tmr) - self.p_curvature * (1.0 + tmr)

    def min_v_half(self, tmr: float, volts: float) -> float:
        """Smallest ``v_half`` (V) at which a device of zero-bias ``tmr`` keeps a positive
        TMR up to ``volts`` (V); 0 when the law never turns it negative.

        With ``G(V) = G0 (1 + k V^2)`` and ``k_P = r k_AP`` the TMR is 0 where
        ``V^2 = 2 v_half^2 ((1 + TMR/2) - r (1 + TMR)) / (1 - r (1 + TMR))``, about
        ``1.7 v_half`` for a TMR of 75 %; with ``r (1 + TMR) >= 1`` it never is."""
        floor = 1.0 - self.p_curvature * (1.0 + tmr)
        gap = self._halving_gap(tmr)
        if floor <= 0.0 or gap <= 0.0:
            return 0.0
        return float(volts / np.sqrt(2.0 * gap / floor))
