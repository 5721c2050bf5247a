"""Shared fixtures: simulated dies and profiles."""

from __future__ import annotations

import pytest

from mtj_hil.sim import SimulatedChip, load_profile
from mtj_hil.sim.profile import DeviceProfile


@pytest.fixture(scope="session")
def profile_1t1r() -> DeviceProfile:
    return load_profile("1t1r-20k")


@pytest.fixture(scope="session")
def profile_passive() -> DeviceProfile:
    return load_profile("passive-15x15")


@pytest.fixture
def chip(profile_1t1r: DeviceProfile) -> SimulatedChip:
    """Die 7 of simulated lot 0 (default profile)."""
    return SimulatedChip.from_lot(profile_1t1r, lot_seed=0, die_index=7)
