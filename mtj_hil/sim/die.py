"""Device physics of one simulated die: drawn once from a profile, then pulsed and read.

All per-device quantities are numpy arrays of shape ``(n_arrays, rows, cols)``; nothing loops
over devices in Python. Randomness comes from ``numpy.random.Generator`` streams derived from
one seed: one stream draws the die, and each array has its own stream for switching and read
noise, so what happens on one array never depends on the order arrays were visited in (an
interrupted run that resumes gives the same numbers as an uninterrupted one).

This module applies no safety limits: a pulse over the breakdown voltage really destroys a
device (it becomes a short). Limits are enforced by :class:`mtj_hil.sim.chip.SimulatedChip`.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mtj_hil.protocols.chip import CellState
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.sim.disturb import draw_flips, good_mask, integrated_rates
from mtj_hil.sim.flaws import draw_flaws
from mtj_hil.sim.kernels import switch_probability
from mtj_hil.sim.nodal import effective_conductance
from mtj_hil.sim.profile import DeviceProfile
from mtj_hil.sim.profile_sections import Clock
from mtj_hil.sim.read_noise import draw_read_noise
from mtj_hil.sim.reading import read_die
from mtj_hil.sim.tables import (
    ArrayTables,
    build_tables,
    conductance_in,
    conductance_with_partials,
)

_P = int(CellState.P)
_GOOD, _SHORT, _OPEN = int(DefectCode.GOOD), int(DefectCode.SHORT), int(DefectCode.OPEN)

P_SWITCH_CACHE = 512
"""Pulses whose per-device switching probabilities a die keeps (a few MB at most)."""

DEFECT_PARAMS = (
    (DefectCode.SHORT, "short_rate"),
    (DefectCode.OPEN, "open_rate"),
    (DefectCode.STUCK_P, "stuck_p_rate"),
    (DefectCode.STUCK_AP, "stuck_ap_rate"),
)


SIMULATED_PREFIX = "sim:"
"""How every simulated die's identifier begins (a station's die carries its own label)."""


def simulated_die_id(profile_name: str, lot_seed: int, die_index: int) -> str:
    """The identifier run files record for die ``die_index`` of simulated lot ``lot_seed``."""
    return f"{SIMULATED_PREFIX}{profile_name}:lot{lot_seed}:die{die_index}"


def die_seed_sequence(lot_seed: int, die_index: int) -> np.random.SeedSequence:
    """The seed sequence of die ``die_index`` of the lot drawn with ``lot_seed``."""
    return np.random.SeedSequence(entropy=int(lot_seed), spawn_key=(int(die_index),))


class SimulatedDie:
    """The physical state of one die (truth the simulator knows and a lab does not).

    Attributes (arrays of shape ``(n_arrays, rows, cols)``):
        r_p, r_ap: device resistances in the P and AP states (ohm).
        vc_to_p, vc_to_ap: critical switching voltages (V).
        delta: thermal stability factor of each device (both write directions); spread by
            ``switching.delta_sigma`` from its own random stream, so a profile without a
            spread draws every other number exactly as before.
        v_breakdown: barrier breakdown voltage (V).
        short_g: conductance the device has if it is (or becomes) a short (S).
        defect: true defect code (``DefectCode`` values, uint8); breakdown turns a device
            into ``SHORT``.
        state: True where the device is in the P state.
        sense_offset: fixed offset current of each output line (A), shape ``(n_arrays, cols)``.

    Optional flaws (:mod:`mtj_hil.sim.flaws`, None when the profile lacks the section):
        open_g: per-device conductance of opens (S; resistive opens conduct partially),
            resistive_open: the opens that do.
        leak_g: pinhole leak conductance in parallel with each device (S, 0 = none).
        population: index of each device's size population.
        spatial_hit: devices made defective by spatial structure.
        spatial_drawn: what the spatial structure drew (``scratch_lengths`` in device
            pitches, ``cluster_sizes`` in devices, before rounding): a fit's realised truth.
        partial_prone, partial_level: devices prone to partial switching, and the level
            (0 = AP .. 1 = P in ln G) of those now in an intermediate state (NaN: none).
        clock: simulated time (s), advanced by reads and pulses (drift, telegraph noise).
    """

    def __init__(self, profile: DeviceProfile, seed: np.random.SeedSequence | int) -> None:
        self.profile = profile
        seq = seed if isinstance(seed, np.random.SeedSequence) else np.random.SeedSequence(seed)
        self.seed_entropy = seq.entropy
        self.seed_spawn_key = tuple(seq.spawn_key)
        draw_seq, *array_seqs = seq.spawn(1 + profile.geometry.n_arrays)
        self.open_g: np.ndarray | None = None
        self.resistive_open: np.ndarray | None = None
        self.leak_g: np.ndarray | None = None
        self.population: np.ndarray | None = None
        self.spatial_hit: np.ndarray | None = None
        self.spatial_drawn: dict[str, list[float]] | None = None
        self.partial_prone: np.ndarray | None = None
        self.partial_level: np.ndarray | None = None
        self.rtn_has: np.ndarray | None = None
        self.clock = 0.0
        self._clock = profile.clock or Clock()
        self._draw(np.random.default_rng(draw_seq))
        self.array_rngs = [np.random.default_rng(s) for s in array_seqs]
        # Read disturb draws from its own streams so that enabling it leaves every other
        # random number of the die unchanged.
        self.disturb_rngs = [
            np.random.default_rng([*self.seed_spawn_key, int(self.seed_entropy), 11, a])
            for a in range(profile.geometry.n_arrays)
        ]
        self.read_flips = np.zeros(profile.geometry.n_arrays, dtype=np.int64)
        self._g_eff: dict[int, np.ndarray] = {}
        self._g_states: tuple[np.ndarray, np.ndarray] | None = None
        self._noise_tables: np.ndarray | None = None
        self.k_p: np.ndarray | None = None
        self.k_ap: np.ndarray | None = None
        self._gk: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._tables: dict[int, ArrayTables] = {}
        self._p_switch: dict[tuple[int, bool, float, float], np.ndarray] = {}
        self._one_hot: dict[int, tuple[np.ndarray, float, np.ndarray]] = {}
        read = profile.read
        self._line_resistive = profile.geometry.cell == "passive" and read.line_resistance > 0
        if profile.bias is not None:
            # Its own stream, so a profile with [bias] draws every other number unchanged.
            # (Key 13 is also the Delta-spread stream: with both, the curvatures take key 23
            # so that v_half and Delta are not drawn from the very same normals.)
            key = 23 if profile.switching.delta_sigma > 0 else 13
            self._draw_bias(
                np.random.default_rng([*self.seed_spawn_key, int(self.seed_entropy), key])
            )
        draw_flaws(self, self._z_common)
        # per array the smallest critical voltages (V; they never change): read disturb's bound
        self._vc_min = [
            (float(ap.min()), float(p.min()))
            for ap, p in zip(self.vc_to_ap, self.vc_to_p, strict=True)
        ]
        self._z_common = None
        self._g_states = None  # the flaws may rescale r_p / r_ap (populations): cache anew
        self.invalidate_tables()

    @property
    def shape(self) -> tuple[int, int, int]:
        g = self.profile.geometry
        return (g.n_arrays, g.rows, g.cols)

    def _draw(self, rng: np.random.Generator) -> None:
        p = self.profile
        shape = self.shape
        res, sw, dfx = p.resistance, p.switching, p.defects
        z1 = rng.standard_normal(shape)
        z2 = rng.standard_normal(shape)
        rho = res.rp_rap_correlation
        z_ap = rho * z1 + np.sqrt(1.0 - rho * rho) * z2
        self._z_common = z1 if self.profile.populations is not None else None
        self.r_p = res.r_p_median * np.exp(res.r_p_sigma * z1)
        self.r_ap = res.r_ap_median * np.exp(res.r_ap_sigma * z_ap)
        # A device whose AP resistance fell below its P resistance would be unphysical.
        self.r_ap = np.maximum(self.r_ap, self.r_p * 1.01)
        self.vc_to_p = sw.vc_to_p * (1.0 + sw.vc_sigma * rng.standard_normal(shape))
        self.vc_to_ap = sw.vc_to_ap * (1.0 + sw.vc_sigma * rng.standard_normal(shape))
        np.maximum(self.vc_to_p, 0.05 * sw.vc_to_p, out=self.vc_to_p)
        np.maximum(self.vc_to_ap, 0.05 * sw.vc_to_ap, out=self.vc_to_ap)
        self.delta = np.full(shape, float(sw.delta))
        if sw.delta_sigma > 0:
            delta_rng = np.random.default_rng([*self.seed_spawn_key, int(self.seed_entropy), 13])
            self.delta *= 1.0 + sw.delta_sigma * delta_rng.standard_normal(shape)
            np.maximum(self.delta, 0.2 * sw.delta, out=self.delta)
        self.v_breakdown = np.maximum(
            sw.breakdown_voltage * (1.0 + sw.breakdown_sigma * rng.standard_normal(shape)),
            sw.breakdown_floor,
        )
        self.short_g = dfx.short_g_median * np.exp(dfx.short_g_sigma * rng.standard_normal(shape))
        self.state = rng.random(shape) < 0.5

        n = int(np.prod(shape))
        cv = dfx.die_spread
        factor = rng.gamma(1.0 / cv**2, cv**2) if cv > 0 else 1.0
        # The profile's rates sum to at most 1, but the die's factor (mean 1, unbounded) can
        # push them past it: clip the factor so that this die's rates sum to 1 at most.
        rate_sum = sum(getattr(dfx, key) for _, key in DEFECT_PARAMS)
        if rate_sum * factor > 1.0:
            factor = 1.0 / rate_sum
        self.defect_rate_factor = float(factor)
        counts = [rng.poisson(getattr(dfx, key) * factor * n) for _, key in DEFECT_PARAMS]
        if sum(counts) > n:  # Poisson overshoot of rates summing to ~1: keep each class's share
            counts = _shares(counts, n)
        total = sum(counts)
        where = rng.choice(n, size=total, replace=False)
        defect = np.zeros(n, dtype=np.uint8)
        start = 0
        for (code, _), count in zip(DEFECT_PARAMS, counts, strict=True):
            defect[where[start : start + count]] = code
            start += count
        defect = defect.reshape(shape)
        self.point_defect = defect.copy()
        if dfx.line_open_rate > 0:
            n_lines = rng.poisson(dfx.line_open_rate, size=shape[0])
            for array in np.flatnonzero(n_lines):
                cols = rng.choice(shape[2], size=min(n_lines[array], shape[2]), replace=False)
                defect[array][:, cols] = DefectCode.OPEN
        if dfx.line_short_rate > 0:
            # A shorted input line: every cell on it shows the transistor-limited short.
            n_lines = rng.poisson(dfx.line_short_rate, size=shape[0])
            for array in np.flatnonzero(n_lines):
                rows = rng.choice(shape[1], size=min(n_lines[array], shape[1]), replace=False)
                defect[array][rows, :] = DefectCode.SHORT
        self.defect = defect
        self.state[defect == DefectCode.STUCK_P] = True
        self.state[defect == DefectCode.STUCK_AP] = False
        self.sense_offset = p.read.offset_sigma * rng.standard_normal((shape[0], shape[2]))

    def _draw_bias(self, rng: np.random.Generator) -> None:
        """Per-device curvatures ``k_p``, ``k_ap`` (1/V^2) of ``G(V) = G0 (1 + k V^2)``."""
        b, res = self.profile.bias, self.profile.resistance
        assert b is not None
        v_half = b.v_half * np.exp(b.v_half_sigma * rng.standard_normal(self.shape))
        self.k_ap = b.ap_curvature(res.r_ap_median / res.r_p_median - 1.0, v_half)
        self.k_p = b.p_curvature * self.k_ap

    # -- conductances ----------------------------------------------------------------------

    def conductance(self, array: int | None = None) -> np.ndarray:
        """True device conductances (S) in the current states, for one array or the die
        (at zero bias when the profile has a ``[bias]`` section)."""
        if array is not None and self.partial_level is None:
            t = self.tables(array)
            return np.where(self.state[array], t.g_p, t.g_ap)
        sl = slice(None) if array is None else array
        if self._g_states is None:  # r_p and r_ap never change after the draw (flaws included)
            self._g_states = (1.0 / self.r_p, 1.0 / self.r_ap)
        g_p, g_ap = self._g_states
        return conductance_with_partials(self, sl, g_p[sl], g_ap[sl])

    def conductance_in(self, state: CellState) -> np.ndarray:
        """Conductance (S) every device of the die would show in ``state`` (defects included)."""
        return conductance_in(self, state == CellState.P)

    def tables(self, array: int) -> ArrayTables:
        """The array's per-state conductances and curvatures (:mod:`mtj_hil.sim.tables`),
        built on first use and kept until its defect codes change."""
        t = self._tables.get(array)
        if t is None:
            t = self._tables[array] = build_tables(self, array)
        return t

    def invalidate_tables(self, array: int | None = None) -> None:
        """Drop the cached tables and conductances of ``array`` (None: every array); needed
        after changing ``defect`` (or a drawn device value) from outside this class."""
        if array is None:
            self._tables.clear()
            self._g_eff.clear()
            self._gk.clear()
        else:
            for cache in (self._tables, self._g_eff, self._gk):
                cache.pop(array, None)

    def effective_conductance(self, array: int) -> np.ndarray:
        """Conductance matrix (S) seen from the array's terminals (line resistance included).

        Cached until a pulse or a read disturb changes a device of the array; for 1T1R arrays
        and zero line resistance it is the device conductance itself.
        """
        cached = self._g_eff.get(array)
        if cached is None:
            g = self.conductance(array)
            r_line = self.profile.read.line_resistance
            if self.profile.geometry.cell == "passive" and r_line > 0:
                g = effective_conductance(np.maximum(g, 1e-12), r_line)
            cached = self._g_eff[array] = g
        return cached

    def conductance_at(self, array: int, voltage: float) -> np.ndarray:
        """True chord conductance ``I / V`` (S) of every device of ``array`` read alone at
        ``voltage`` (V) in its current state: ``G0 (1 + k V**2)`` with the bias law, the
        zero-bias conductance without one (no noise, drift or telegraph noise)."""
        g = self.conductance(array)
        if self.k_p is None:
            return g
        barrier = g if self.leak_g is None else g - self.leak_g[array]
        return g + barrier * self.curvature(array) * voltage * voltage

    def curvature(self, array: int) -> np.ndarray:
        """Bias curvature ``k`` (1/V^2) of every device of ``array`` in its current state
        (zeros without a ``[bias]`` section; shorts and opens are ohmic)."""
        if self.k_p is None or self.k_ap is None:
            return np.zeros(self.shape[1:])
        t = self.tables(array)
        k = np.where(self.state[array], t.k_p, t.k_ap)
        if self.partial_level is not None:
            level = self.partial_level[array]
            mid = t.k_ap + level * (t.k_p - t.k_ap)
            k = np.where(np.isfinite(level), mid, k)
        return k

    def _cubic_conductance(self, array: int, g: np.ndarray) -> np.ndarray:
        """``G0 * k`` (S/V^2) of the array's devices, cached with the conductance ``g`` it
        belongs to (a pulse or a read disturb replaces ``g`` and so invalidates it)."""
        cached = self._gk.get(array)
        if cached is None or cached[0] is not g:
            if self.partial_level is None and not self._line_resistive:
                t = self.tables(array)
                gk = np.where(self.state[array], t.gk_p, t.gk_ap)
            else:
                barrier = g if self.leak_g is None else g - self.leak_g[array]  # leaks are ohmic
                gk = barrier * self.curvature(array)
            cached = self._gk[array] = (g, gk)
        return cached[1]

    # -- writing ---------------------------------------------------------------------------

    def apply_pulse(
        self, array: int, mask: np.ndarray, state: CellState, amplitude: float, width: float
    ) -> None:
        """Apply one write pulse towards ``state`` to the cells selected by ``mask``.

        ``amplitude`` (V, magnitude) appears across each selected device for ``width`` (s).
        Devices switch with the thermal-activation probability; a pulse at or above a
        device's breakdown voltage turns it into a short. In passive arrays with
        ``half_select`` the V/2 scheme disturbs unselected cells on selected lines.
        """
        sw = self.profile.switching
        rng = self.array_rngs[array]
        self.clock += self._clock.pulse_time
        mask = np.asarray(mask, dtype=bool)
        selected = bool(mask.any())
        half = None
        if self.profile.geometry.cell == "passive" and sw.half_select and selected:
            # Rows are written one after another: a selected row sits at +V/2 and the
            # selected columns of that row at -V/2, so a cell sees V/2 once if its row is
            # selected, plus once for every other row written in its column.
            row_sel = mask.any(axis=1)[:, None]
            col_count = mask.sum(axis=0)[None, :]
            half = (row_sel & ~mask).astype(float) + (col_count - mask)
        broke = self._breakdown(array, mask, amplitude)
        if half is not None:
            broke |= self._breakdown(array, half > 0, amplitude / 2.0)

        target = int(state) == _P
        good = self.tables(array).good
        switchable = good & (self.state[array] != target)
        if self.partial_level is not None:  # a half-way device can finish the switch
            switchable |= good & np.isfinite(self.partial_level[array])
        if selected:
            p_switch = self._pulse_probability(array, target, amplitude, width)
            if not mask.all():
                p_switch = np.where(mask, p_switch, 0.0)
        else:
            p_switch = np.zeros(mask.shape)
        if half is not None and half.any():
            vc = (self.vc_to_p if target else self.vc_to_ap)[array]
            p_half = switch_probability(amplitude / 2.0, width, vc, sw, self.delta[array])
            p_half = -np.expm1(half * np.log1p(-np.minimum(p_half, 1 - 1e-16)))
            p_switch = 1.0 - (1.0 - p_switch) * (1.0 - p_half)
        flips = switchable & (rng.random(mask.shape) < p_switch)
        np.copyto(self.state[array], target, where=flips)
        if broke or flips.any():  # a pulse that changed no device keeps the cached solve
            self._g_eff.pop(array, None)
        if self.partial_level is not None and self.partial_prone is not None:
            ps = self.profile.partial_switching
            assert ps is not None
            prng = self.partial_rngs[array]
            u, level = prng.random(mask.shape), prng.random(mask.shape)
            stops = flips & self.partial_prone[array] & (u < ps.probability)
            lv = self.partial_level[array]
            lv[flips] = np.nan
            # level 0 = AP, 1 = P: a write towards P stops short of P, towards AP short of AP
            frac = ps.level_low + (ps.level_high - ps.level_low) * level
            lv[stops] = np.where(target, frac, 1.0 - frac)[stops]

    def _pulse_probability(
        self, array: int, target: bool, amplitude: float, width: float
    ) -> np.ndarray:
        """Switching probability of every device of ``array`` under a selected pulse
        (write-error floor applied), read-only and cached per pulse: the critical voltages
        and Delta never change, and a die's plans use few distinct pulses."""
        key = (array, target, amplitude, width)
        p = self._p_switch.get(key)
        if p is None:
            sw = self.profile.switching
            vc = (self.vc_to_p if target else self.vc_to_ap)[array]
            p = switch_probability(amplitude, width, vc, sw, self.delta[array])
            p *= 1.0 - sw.write_error_floor
            p.flags.writeable = False
            if len(self._p_switch) >= P_SWITCH_CACHE:
                self._p_switch.clear()
            self._p_switch[key] = p
        return p

    def _breakdown(self, array: int, mask: np.ndarray, amplitude: float) -> bool:
        """Turn the cells of ``mask`` that ``amplitude`` (V) breaks down into shorts;
        whether any was."""
        if amplitude < self.profile.switching.breakdown_floor:
            return False  # no device breaks down below the floor (the draw clips to it)
        broken = mask & (amplitude >= self.v_breakdown[array])
        if not broken.any():
            return False
        self.defect[array][broken] = DefectCode.SHORT
        self._tables.pop(array, None)
        return True

    # -- reading ---------------------------------------------------------------------------

    def read(
        self,
        array: int,
        voltages: np.ndarray,
        check: Callable[[float, float], None] | None = None,
    ) -> np.ndarray:
        """Output-line currents (A, ``(batch, cols)``) for input voltages (V, ``(batch, rows)``).

        Ohm's and Kirchhoff's laws through the effective conductance (with a ``[bias]``
        section, 1T1R only: each device sees its input line's voltage and adds ``G0 k V**3``,
        so ``I = V @ G0 + V**3 @ (G0 k)``), then read disturb, read noise
        (relative and absolute, independent per line and read), the line's sense offset and,
        if the profile asks for it, ADC quantisation with clipping at full scale.

        ``check`` is called with the smallest and largest voltage (V) of the batch before
        anything random is drawn or any device is touched; it raises to refuse the read
        (the product is computed in cache-sized blocks that scan the voltages on the way).
        """
        return read_die(self, array, voltages, check)

    def read_disturb_probability(self, array: int, voltages: np.ndarray) -> np.ndarray:
        """Probability (per device of ``array``, ``(rows, cols)``) that a batch of read
        vectors (V, ``(batch, rows)``) flips the device, from the thermal-activation law
        of :mod:`mtj_hil.sim.disturb` (the write-error floor does not apply; only GOOD
        devices not already in the pushed-to state can flip)."""
        sw, rd = self.profile.switching, self.profile.read
        total = integrated_rates(
            self.state[array],
            good_mask(self.defect[array]),
            self.vc_to_ap[array],
            self.vc_to_p[array],
            np.asarray(voltages, dtype=float),
            sw.delta,
            rd.read_width / sw.tau0,
        )
        return -np.expm1(-total)

    def _read_disturb(self, array: int, voltages: np.ndarray, v_range: tuple[float, float]) -> None:
        """Flip devices a read disturbed (see :mod:`mtj_hil.sim.disturb`); ``v_range`` is
        ``(min, max)`` of ``voltages`` (V)."""
        sw, rd = self.profile.switching, self.profile.read
        flips = draw_flips(
            self.disturb_rngs[array],
            self.state[array],
            self.defect[array],
            self.vc_to_ap[array],
            self.vc_to_p[array],
            voltages,
            v_range,
            sw.delta,
            rd.read_width / sw.tau0,
            self._vc_min[array],
        )
        if flips is not None:
            self.state[array][flips] = ~self.state[array][flips]
            self.read_flips[array] += int(flips.sum())
            self._g_eff.pop(array, None)

    def _noise(self, array: int, shape: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
        """Read noise for one read (see :func:`mtj_hil.sim.read_noise.draw_read_noise`)."""
        return draw_read_noise(self, array, shape)


def _shares(counts: list[int], n: int) -> list[int]:
    """``counts`` scaled down to sum to ``n``, each in proportion (largest remainders)."""
    exact = np.asarray(counts, dtype=float) * n / sum(counts)
    out = np.floor(exact).astype(int)
    out[np.argsort(out - exact)[: n - int(out.sum())]] += 1
    return [int(c) for c in out]


def make_die(profile: DeviceProfile, lot_seed: int = 0, die_index: int = 0) -> SimulatedDie:
    """Die ``die_index`` of the simulated lot ``lot_seed``: the same arguments give the same die."""
    return SimulatedDie(profile, die_seed_sequence(lot_seed, die_index))
