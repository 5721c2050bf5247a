"""What changes on a die while it is measured: temperature drift and telegraph noise.

Both run on the die's simulated clock (``SimulatedDie.clock``, s), advanced by every read
vector and every program call (``[clock]`` section, defaults in
:class:`mtj_hil.sim.profile_sections.Clock`). Each returns a per-device factor on the
conductance of one array at the time of a read (1T1R arrays only).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from mtj_hil.protocols.defects.codes import DefectCode

SimulatedDie = Any
"""A :class:`mtj_hil.sim.die.SimulatedDie` (not imported: the die imports this module)."""


def read_factor(die: SimulatedDie, array: int) -> np.ndarray | None:
    """Relative conductance of each device of ``array`` now against its reference value
    (None when the profile has neither drift nor telegraph noise)."""
    p = die.profile
    factor = None
    if p.drift is not None:
        dt = p.drift.delta_t(die.clock)
        if dt != 0.0:
            factor = drift_factor(die, array, dt)
    if die.rtn_has is not None:
        occ = _advance_traps(die, array)
        rtn = 1.0 - die.rtn_amplitude[array] * occ
        factor = rtn if factor is None else factor * rtn
    return factor


def drift_factor(die: SimulatedDie, array: int, delta_t: float) -> np.ndarray:
    """Conductance factor of each device of ``array`` at a temperature ``delta_t`` (K) from
    the reference: ``1 / (1 + tc dT)`` per state, ``1 + tc_short dT`` for shorts, 1 for
    opens."""
    d = die.profile.drift
    assert d is not None
    f_p = 1.0 / (1.0 + d.tc_r_p * delta_t)
    f_ap = 1.0 / (1.0 + d.tc_r_ap * delta_t)
    f = np.where(die.state[array], f_p, f_ap)
    code = die.defect[array]
    f = np.where(code == DefectCode.SHORT, 1.0 + d.tc_short * delta_t, f)
    return np.where(code == DefectCode.OPEN, 1.0, f)


def _advance_traps(die: SimulatedDie, array: int) -> np.ndarray:
    """Trap occupancy of ``array``'s devices now: each two-state trap evolves by its capture
    and emission rates over the time since the array was last read."""
    elapsed = max(die.clock - float(die.rtn_time[array]), 0.0)
    die.rtn_time[array] = die.clock
    occ = die.rtn_occupied[array]
    if elapsed > 0:
        k_c, k_e = die.rtn_rates[0][array], die.rtn_rates[1][array]
        total = k_c + k_e
        p_inf = k_c / total
        decay = np.exp(-total * elapsed)
        p_occ = np.where(occ, p_inf + (1.0 - p_inf) * decay, p_inf * (1.0 - decay))
        occ = die.rtn_has[array] & (die.rtn_rngs[array].random(occ.shape) < p_occ)
        die.rtn_occupied[array] = occ
    return occ
