"""Simulated dies: vectorised device physics behind the same Chip interface as real hardware.

The names below load on first use (PEP 562, :mod:`mtj_hil.compat.lazy`): importing one
module of the package, such as :mod:`mtj_hil.sim.profile`, does not load the simulated chip
and what it imports.
"""

from typing import TYPE_CHECKING

from mtj_hil.compat.lazy import lazy_exports

if TYPE_CHECKING:
    from mtj_hil.sim.chip import SimulatedChip
    from mtj_hil.sim.die import SimulatedDie, make_die
    from mtj_hil.sim.profile import DeviceProfile, available_profiles, load_profile

__all__ = [
    "DeviceProfile",
    "SimulatedChip",
    "SimulatedDie",
    "available_profiles",
    "load_profile",
    "make_die",
]

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "mtj_hil.sim.chip": ("SimulatedChip",),
        "mtj_hil.sim.die": ("SimulatedDie", "make_die"),
        "mtj_hil.sim.profile": ("DeviceProfile", "available_profiles", "load_profile"),
    },
)
