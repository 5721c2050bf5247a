"""Optional profile sections: the flaws real wafers show beyond the base statistics.

Each section is optional; a profile without it draws exactly the dies it drew before the
section existed (each draws from random streams of its own). Every value is SI. Each class
carries ``RANGES``: key -> (low, high, what is allowed), checked by
:func:`mtj_hil.sim.profile.profile_from_dict` (unknown keys and values out of range are named).

Values in the shipped profiles and the defaults below come from the literature cited in the
docstrings (and in the profile files' comments).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INF = float("inf")

MAX_SWING_K = 50.0
"""Furthest (K) a die's temperature strays from where its run started under ``[drift]``: a
lab's or a probe station's swing is a few kelvin, a heated chuck's ramp tens; a ramp stops
here (unbounded, a long run took ``R0 (1 + tc dT)`` through zero to negative conductances,
reported as a die with TMR -9 % and exit 0)."""

MAX_TC = 0.01
"""Largest temperature coefficient magnitude (1/K) of ``[drift]``: five times the steepest
slopes reported (R_AP of MgO junctions about -1.5e-3/K, a transistor-limited short about
-2e-3/K). Over the largest swing it changes a conductance at most two-fold and never to zero
(``MAX_TC * MAX_SWING_K`` = 0.5; at 0.02/K the 50 K swing reached the pole ``1 + tc dT = 0``)."""


@dataclass(frozen=True)
class Clock:
    """How long operations take on the simulated die (optional ``[clock]``; drift and
    telegraph noise run on this clock, nothing else reads it).

    Attributes:
        read_vector_time: seconds one read vector takes (settling and conversion; a
            source-measure unit at a 1 PLC aperture takes ~20 ms, an on-chip converter
            microseconds; 1 ms is a mid value).
        pulse_time: seconds one program call takes (pulse plus driver set-up).
    """

    read_vector_time: float = 1e-3
    pulse_time: float = 1e-3

    RANGES = {
        "read_vector_time": (0.0, 10.0, "0..10 s"),
        "pulse_time": (0.0, 10.0, "0..10 s"),
    }


@dataclass(frozen=True)
class Spatial:
    """Spatially correlated defects (optional ``[spatial]``).

    The die's arrays sit on a grid ``grid_cols`` arrays wide (0: the squarest grid), devices
    at unit pitch inside each array, so a scratch or a particle cluster can run across array
    borders. Patterns follow the wafer-map failure classes of Wu, Jang and Chen, IEEE Trans.
    Semicond. Manuf. (2015) (WM-811K: scratch, edge ring, cluster / local, near-full);
    clustering of defects is what makes yields follow the negative-binomial law (Stapper,
    IBM J. Res. Dev. 1989; cluster parameters 0.3-2 on immature to mature processes).

    Attributes:
        grid_cols: arrays per row of the die's array grid (0 = ceil(sqrt(n_arrays))).
        scratch_rate: expected scratches per die (Poisson).
        scratch_length: median scratch length in device pitches (lognormal, sigma 0.5).
        scratch_class: what a scratched device becomes: "SHORT" (a damaged barrier) or "OPEN".
        edge_width: width of the die's edge band, in device pitches.
        edge_factor: defect rate inside the edge band as a multiple of the die's rate (>= 1).
        dead_array_rate: expected dead arrays per die (every device OPEN: a broken array
            select or sense path).
        cluster_rate: expected particle clusters per die (Poisson).
        cluster_size_median: median devices hit by a cluster (lognormal sizes).
        cluster_size_sigma: lognormal sigma of the cluster size (a long tail of big ones).
    """

    grid_cols: int = 0
    scratch_rate: float = 0.0
    scratch_length: float = 60.0
    scratch_class: str = "SHORT"
    edge_width: float = 0.0
    edge_factor: float = 1.0
    dead_array_rate: float = 0.0
    cluster_rate: float = 0.0
    cluster_size_median: float = 6.0
    cluster_size_sigma: float = 1.0

    RANGES = {
        "grid_cols": (0, 4096, "0..4096 (0 = squarest grid)"),
        "scratch_rate": (0.0, 100.0, "0..100 per die"),
        "scratch_length": (1.0, 1e5, "1..1e5 device pitches"),
        "scratch_class": ("SHORT", "OPEN", "'SHORT' or 'OPEN'"),
        "edge_width": (0.0, 1e4, "0..1e4 device pitches"),
        "edge_factor": (1.0, 1e4, "1..1e4 (a multiple of the die's rate)"),
        "dead_array_rate": (0.0, 100.0, "0..100 per die"),
        "cluster_rate": (0.0, 1e3, "0..1000 per die"),
        "cluster_size_median": (1.0, 1e5, "1..1e5 devices"),
        "cluster_size_sigma": (0.0, 3.0, "0..3"),
    }


@dataclass(frozen=True)
class Drift:
    """Temperature drift during a run (optional ``[drift]``; 1T1R only).

    The die's temperature follows ``dT(t) = ramp t + amplitude sin(2 pi t / period)`` on the
    simulated clock (``[clock]``); each state's resistance changes by its temperature
    coefficient, ``R(T) = R0 (1 + tc dT)``. In MgO junctions R_AP falls with rising
    temperature much faster than R_P, which stays nearly flat (Ma et al., "Temperature
    dependence of resistance in epitaxial Fe/MgO/Fe magnetic tunnel junctions"; Chao et al.,
    IEEE Trans. Magn. 46, 2195 (2010): both linear in T, the AP slope about twice the P one,
    TMR ~ 1 - B T^1.5), so the TMR falls by ~0.1-0.2 %/K near room temperature. A
    transistor-limited short loses
    current as the mobility falls (about -0.2 %/K). The temperature strays at most
    :data:`MAX_SWING_K` from where the run started: a ramp stops there.

    Attributes:
        ramp: K/s, linear temperature change.
        amplitude: K, amplitude of a slow periodic swing (air conditioning).
        period: s, period of that swing.
        tc_r_p: 1/K, relative change of R_P per kelvin.
        tc_r_ap: 1/K, relative change of R_AP per kelvin.
        tc_short: 1/K, relative change of a short's conductance per kelvin.
    """

    ramp: float = 0.0
    amplitude: float = 0.0
    period: float = 600.0
    tc_r_p: float = -2e-4
    tc_r_ap: float = -1.5e-3
    tc_short: float = -2e-3

    RANGES = {
        "ramp": (-10.0, 10.0, f"-10..10 K/s (stops {MAX_SWING_K:g} K from the start)"),
        "amplitude": (0.0, MAX_SWING_K, f"0..{MAX_SWING_K:g} K"),
        "period": (1e-3, 1e7, "1e-3..1e7 s"),
        "tc_r_p": (-MAX_TC, MAX_TC, f"-{MAX_TC:g}..{MAX_TC:g} per K"),
        "tc_r_ap": (-MAX_TC, MAX_TC, f"-{MAX_TC:g}..{MAX_TC:g} per K"),
        "tc_short": (-MAX_TC, MAX_TC, f"-{MAX_TC:g}..{MAX_TC:g} per K"),
    }

    def delta_t(self, t: float) -> float:
        """Temperature change (K) at simulated time ``t`` (s), within +-:data:`MAX_SWING_K`."""
        swing = self.ramp * t + self.amplitude * float(np.sin(2 * np.pi * t / self.period))
        return min(max(swing, -MAX_SWING_K), MAX_SWING_K)


@dataclass(frozen=True)
class Telegraph:
    """Random telegraph noise (optional ``[telegraph]``; 1T1R only).

    A share of the devices carries a charge trap in the barrier that switches between two
    states (Ingvarsson et al., J. Appl. Phys. 85, 5270 (1999): two-level fluctuators from
    barrier traps; Md Nor et al., J. Appl. Phys. 99, 08T306 (2006): RTN in MgO junctions),
    lowering the device's conductance by a relative ``amplitude`` while occupied. Capture
    and emission are Poisson processes with rates spread over decades (lognormal). Shorts
    and opens do not fluctuate: a short's current bypasses the barrier, an open's is set by
    its broken contact.

    Attributes:
        fraction: share of the devices with a fluctuator (of those with a working barrier:
            good and stuck devices).
        amplitude: median relative conductance drop while the trap is occupied.
        amplitude_sigma: lognormal sigma of the amplitude between devices.
        rate: median capture (and emission) rate, 1/s.
        rate_sigma: spread of the rates in decades (1 sigma of log10).
    """

    fraction: float = 0.0
    amplitude: float = 0.02
    amplitude_sigma: float = 0.5
    rate: float = 10.0
    rate_sigma: float = 1.0

    RANGES = {
        "fraction": (0.0, 1.0, "0..1"),
        "amplitude": (0.0, 0.5, "0..0.5"),
        "amplitude_sigma": (0.0, 2.0, "0..2"),
        "rate": (1e-6, 1e9, "1e-6..1e9 per s"),
        "rate_sigma": (0.0, 4.0, "0..4 decades"),
    }


@dataclass(frozen=True)
class ResistiveOpens:
    """Partially conducting ("resistive") opens (optional ``[resistive_opens]``).

    An open whose path still conducts a little: a cracked via or a partly lifted contact
    (interconnect and contact defects are modelled as linear resistors, Wu et al., IEEE
    Trans. Emerg. Topics Comput. 9, 707 (2021)). Such a device does not switch and is ohmic;
    its conductance is log-uniform between ``g_low`` and ``g_high``.

    Attributes:
        fraction: share of the (single-device) opens that conduct partially.
        g_low, g_high: S, range of the log-uniform conductance.
    """

    fraction: float = 0.0
    g_low: float = 1e-9
    g_high: float = 1.5e-4

    RANGES = {
        "fraction": (0.0, 1.0, "0..1"),
        "g_low": (1e-12, 1.0, "1e-12..1 S"),
        "g_high": (1e-12, 1.0, "1e-12..1 S (and > g_low)"),
    }


@dataclass(frozen=True)
class Pinholes:
    """Pinhole leaks in the barrier (optional ``[pinholes]``).

    A pinhole is a local thinning or break of the MgO barrier that conducts in parallel with
    the tunnel path (Wu et al., "Pinhole defect characterization and fault modeling for
    STT-MRAM testing", ETS 2019): the device still switches, but its conductance rises in
    both states, its TMR and its bias dependence shrink. The leak is ohmic, lognormal; a
    pinhole that would pass more than the access transistor does (a short's conductance) has
    broken the barrier: that device is a short.

    Attributes:
        fraction: share of the (non-short, non-open) devices with a pinhole.
        g_median: S, median leak conductance.
        g_sigma: lognormal sigma of the leak conductance.
    """

    fraction: float = 0.0
    g_median: float = 3e-5
    g_sigma: float = 1.0

    RANGES = {
        "fraction": (0.0, 1.0, "0..1"),
        "g_median": (1e-12, 1.0, "1e-12..1 S"),
        "g_sigma": (0.0, 3.0, "0..3"),
    }


@dataclass(frozen=True)
class Populations:
    """Device populations as a mixture, and a skewed resistance law (optional
    ``[populations]``).

    A die can carry devices of several drawn sizes (test structures, or a litho step that
    prints two diameters): the resistance of an MTJ scales as RA / area, so population ``k``
    has both R_P and R_AP multiplied by ``r_scale[k]``. ``skew`` makes the common
    (size-driven) factor of ln R skew-normal with shape ``skew`` (0: normal), standardised
    to the same mean and spread, as etch-limited diameters give (a hard lower bound on
    size, a tail of small devices).

    Attributes:
        fractions: share of each population (sum 1).
        r_scale: resistance multiplier of each population.
        skew: skew-normal shape of the common ln R factor (0 = lognormal).
    """

    fractions: tuple[float, ...] = (1.0,)
    r_scale: tuple[float, ...] = (1.0,)
    skew: float = 0.0

    RANGES = {
        "fractions": (0.0, 1.0, "a list of numbers, each 0..1, summing to 1"),
        "r_scale": (0.05, 20.0, "a list of numbers, each 0.05..20"),
        "skew": (-20.0, 20.0, "-20..20"),
    }


@dataclass(frozen=True)
class PartialSwitching:
    """Partial switching to an intermediate state (optional ``[partial_switching]``).

    Some devices occasionally end a write in a third, intermediate resistance (a domain
    wall pinned in the free layer; "Characterization and fault modeling of intermediate
    state defects in STT-MRAM", TU Delft / IMEC: an abnormal third resistance whose
    occurrence depends on size, bias and direction, causing intermittent write faults). A prone device that switches lands
    in the intermediate state with probability ``probability`` per write; its ln G then sits
    a fraction (uniform in ``level_low..level_high``) of the way from the AP to the P level.
    A later pulse towards the same state can complete the switch.

    Attributes:
        fraction: share of the good devices prone to it.
        probability: chance per switching write that a prone device stops half-way.
        level_low, level_high: range of the intermediate level (0 = AP, 1 = P, in ln G).
    """

    fraction: float = 0.0
    probability: float = 0.3
    level_low: float = 0.3
    level_high: float = 0.7

    RANGES = {
        "fraction": (0.0, 1.0, "0..1"),
        "probability": (0.0, 1.0, "0..1"),
        "level_low": (0.0, 1.0, "0..1"),
        "level_high": (0.0, 1.0, "0..1 (and >= level_low)"),
    }


OPTIONAL_FLAWS: dict[str, type] = {
    "clock": Clock,
    "spatial": Spatial,
    "drift": Drift,
    "telegraph": Telegraph,
    "resistive_opens": ResistiveOpens,
    "pinholes": Pinholes,
    "populations": Populations,
    "partial_switching": PartialSwitching,
}
"""Section name -> dataclass of the optional flaw sections."""


def cross_checks(name: str, section: object) -> list[tuple[bool, str, str, object]]:
    """Checks that relate keys of one section: (ok, key, allowed, value)."""
    if isinstance(section, ResistiveOpens):
        return [(section.g_high > section.g_low, "g_high", "> g_low", section.g_high)]
    if isinstance(section, PartialSwitching):
        return [
            (
                section.level_high >= section.level_low,
                "level_high",
                ">= level_low",
                section.level_high,
            )
        ]
    if isinstance(section, Populations):
        f, s = section.fractions, section.r_scale
        return [
            (1 <= len(f) <= 4, "fractions", "1 to 4 populations", f),
            (len(s) == len(f), "r_scale", f"one value per population ({len(f)})", s),
            (abs(sum(f) - 1.0) < 1e-6, "fractions", "a sum of 1", f),
        ]
    return []
