"""Shared fixtures for the training tests."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols.chip import Layout, Limits, Pulse
from mtj_hil.protocols.defects.codes import DefectCode
from mtj_hil.training.datasets import Dataset, load_digits
from mtj_hil.training.die_model import DieModel


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


@pytest.fixture(scope="session")
def random_die(layout: Layout):
    """A maker of die models: ``random_die(seed, sigma=0.03, stuck=0.03, shorts=0.003)``:
    lognormal P and AP conductances about the layout's nominal ones (``sigma`` in ln G),
    ``stuck`` of the devices stuck (half P, half AP) and ``shorts`` shorted at 600 uS."""

    def make(seed: int, sigma: float = 0.03, stuck: float = 0.03, shorts: float = 0.003):
        rng = np.random.default_rng(seed)
        shape = (layout.n_arrays, layout.rows, layout.cols)
        g_p = layout.nominal_g_p * np.exp(sigma * rng.standard_normal(shape))
        g_ap = layout.nominal_g_ap * np.exp(sigma * rng.standard_normal(shape))
        u = rng.random(shape)
        codes = np.zeros(shape, np.uint8)
        codes[u < stuck / 2] = DefectCode.STUCK_P
        codes[(u >= stuck / 2) & (u < stuck)] = DefectCode.STUCK_AP
        codes[(u >= stuck) & (u < stuck + shorts)] = DefectCode.SHORT
        g_p = np.where(codes == DefectCode.SHORT, 6e-4, g_p)
        return DieModel(layout, g_p, g_ap, codes)

    return make
