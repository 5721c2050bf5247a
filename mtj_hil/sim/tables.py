"""Per-array tables of a simulated die that change only when its defects do.

A device's conductance in either state (leaks added, shorts and opens in their own values),
its bias curvature in either state (zero for shorts and opens) and their product are fixed
from the draw until a pulse breaks a device down; every read and pulse used to recompute them
from scratch. Here they are built once per array, so the conductance and curvature of the
current states are one ``np.where`` on the state each. Every element is computed with exactly
the operations of the from-scratch formulas, so the numbers are bit-identical.

The die drops an array's tables whenever its ``defect`` codes change (breakdown); code that
changes ``die.defect`` directly must call ``die.invalidate_tables()``.
"""

from __future__ import annotations

from typing import Any, NamedTuple

import numpy as np

from mtj_hil.protocols.defects.codes import DefectCode

SimulatedDie = Any
"""A :class:`mtj_hil.sim.die.SimulatedDie` (not imported: the die imports this module)."""

_GOOD, _SHORT, _OPEN = int(DefectCode.GOOD), int(DefectCode.SHORT), int(DefectCode.OPEN)


class ArrayTables(NamedTuple):
    """Per-device values of one array, shape ``(rows, cols)`` each."""

    g_p: np.ndarray
    """Zero-bias conductance (S) in P: leak added, shorts and opens in their own values."""
    g_ap: np.ndarray
    """The same in AP (S)."""
    k_p: np.ndarray | None
    """Bias curvature (1/V^2) in P, zero for shorts and opens (None without ``[bias]``)."""
    k_ap: np.ndarray | None
    """The same in AP."""
    gk_p: np.ndarray | None
    """``(g_p - leak) * k_p`` (S/V^2): the cubic term's conductance in P (leaks are ohmic)."""
    gk_ap: np.ndarray | None
    """The same in AP."""
    good: np.ndarray
    """True where the device is GOOD (can switch)."""


def build_tables(die: SimulatedDie, array: int) -> ArrayTables:
    """The tables of ``array`` from the die's current draw and defect codes."""
    if die._g_states is None:  # r_p and r_ap never change after the draw (flaws included)
        die._g_states = (1.0 / die.r_p, 1.0 / die.r_ap)
    g_p, g_ap = (g[array] for g in die._g_states)
    defect = die.defect[array]
    short, opened = defect == _SHORT, defect == _OPEN
    leak = None if die.leak_g is None else die.leak_g[array]
    open_g = die.profile.defects.open_g if die.open_g is None else die.open_g[array]

    def overlay(g: np.ndarray) -> np.ndarray:
        if leak is not None:
            g = g + leak
        g = np.where(short, die.short_g[array], g)
        return np.where(opened, open_g, g)

    tg_p, tg_ap = overlay(g_p), overlay(g_ap)
    k_p = k_ap = gk_p = gk_ap = None
    if die.k_p is not None and die.k_ap is not None:
        barrier = ~short & ~opened
        k_p = np.where(barrier, die.k_p[array], 0.0)
        k_ap = np.where(barrier, die.k_ap[array], 0.0)
        gk_p = (tg_p if leak is None else tg_p - leak) * k_p
        gk_ap = (tg_ap if leak is None else tg_ap - leak) * k_ap
    return ArrayTables(tg_p, tg_ap, k_p, k_ap, gk_p, gk_ap, defect == _GOOD)


def conductance_with_partials(
    die: SimulatedDie, array: int | slice, g_p: np.ndarray, g_ap: np.ndarray
) -> np.ndarray:
    """Device conductances (S) of ``array`` (an index or ``slice(None)`` for the die) from
    the bare state conductances ``g_p``, ``g_ap`` of the same selection, with partial levels,
    leaks and defects applied in turn (the from-scratch formula)."""
    g = np.where(die.state[array], g_p, g_ap)
    if die.partial_level is not None:
        level = die.partial_level[array]
        mid = np.exp(np.log(g_ap) + level * np.log(g_p / g_ap))
        g = np.where(np.isfinite(level), mid, g)
    if die.leak_g is not None:
        g = g + die.leak_g[array]
    defect = die.defect[array]
    g = np.where(defect == _SHORT, die.short_g[array], g)
    open_g = die.profile.defects.open_g if die.open_g is None else die.open_g[array]
    return np.where(defect == _OPEN, open_g, g)


def conductance_in(die: SimulatedDie, state_is_p: bool) -> np.ndarray:
    """Conductance (S) every device of the die would show in P (``state_is_p``) or AP,
    defects included (stuck devices in their stuck state)."""
    g = 1.0 / (die.r_p if state_is_p else die.r_ap)
    g = np.where(die.defect == DefectCode.STUCK_P, 1.0 / die.r_p, g)
    g = np.where(die.defect == DefectCode.STUCK_AP, 1.0 / die.r_ap, g)
    if die.leak_g is not None:
        g = g + die.leak_g
    g = np.where(die.defect == DefectCode.SHORT, die.short_g, g)
    open_g = die.profile.defects.open_g if die.open_g is None else die.open_g
    return np.where(die.defect == DefectCode.OPEN, open_g, g)
