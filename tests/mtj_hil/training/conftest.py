"""Shared fixtures for the training tests."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols.chip import Layout, Limits, Pulse
from mtj_hil.training.datasets import Dataset, load_digits


@pytest.fixture(scope="session")
def layout() -> Layout:
    """The 32-array, 25 x 25, 1T1R die of the project."""
    return Layout(
        n_arrays=32,
        rows=25,
        cols=25,
        cell="1T1R",
        limits=Limits(0.2, 0.1, 1.0, 1e-9, 1e-6),
        nominal_g_p=233e-6,
        nominal_g_ap=133e-6,
        nominal_pulse=Pulse(0.5, 1e-8),
    )


@pytest.fixture(scope="session")
def digits() -> Dataset:
    """8x8 digits, scaled to [0, 1], seeded split."""
    return load_digits(np.random.default_rng(0))
