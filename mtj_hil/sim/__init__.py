"""Simulated dies: vectorised device physics behind the same Chip interface as real hardware."""

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
