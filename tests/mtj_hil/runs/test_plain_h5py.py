"""A run file read with plain h5py, without mtj-hil: every dataset of the run's groups says
its unit and what it is, and the meaning of a code is in the file itself."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest

import mtj_hil
from mtj_hil.labelled.load import load_dataset


@pytest.fixture(scope="module")
def switching_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A finished switching run of one array on a simulated die."""
    folder = tmp_path_factory.mktemp("plain")
    run = mtj_hil.measure_switching(
        mtj_hil.simulated_die(2),
        folder / "sw.h5",
        arrays=[0],
        widths=[1e-7],
        amplitudes=[0.6, 0.9, 1.2],
        trials=4,
        disturb_reads=10,
    )
    return run.path


def _datasets(h5: h5py.File) -> dict[str, h5py.Dataset]:
    found: dict[str, h5py.Dataset] = {}
    h5.visititems(
        lambda name, obj: found.setdefault(name, obj) if isinstance(obj, h5py.Dataset) else None
    )
    return {k: v for k, v in found.items() if not k.startswith("entry/")}


def test_every_dataset_of_a_switching_run_says_its_unit_and_what_it_is(switching_run):
    with h5py.File(switching_run, "r") as h5:
        for name, ds in _datasets(h5).items():
            assert str(ds.attrs.get("unit", "")), name
            assert str(ds.attrs.get("description", "")), name


def test_fit_status_codes_are_named_in_the_file(switching_run):
    """The file said 'status per device' and unit 1: a reader could not tell what 2 meant."""
    from mtj_hil.protocols.switching.fit import STATUS_NAMES

    with h5py.File(switching_run, "r") as h5:
        for direction in ("AP", "P"):
            ds = h5[f"switching_fit/{direction}/status"]
            text = str(ds.attrs["description"])
            for code, name in STATUS_NAMES.items():
                assert f"{code}={name.upper().replace(' ', '_')}" in text
            assert set(np.unique(ds[()]).tolist()) <= set(STATUS_NAMES)


def test_the_fit_covariance_is_not_called_dimensionless(switching_run):
    """cov holds var(a), cov(a, b) and var(b) with b in 1/V; the file called it all unit 1.
    Its unit now names the four elements in turn, as the labelled dataset splits them."""
    ds = load_dataset(switching_run)
    with h5py.File(switching_run, "r") as h5:
        cov = h5["switching_fit/AP/cov"]
        units = [u.strip() for u in str(cov.attrs["unit"]).split(",")]
        assert "(a, b)" in str(cov.attrs["description"])
    assert units == [
        ds["fit_var_a"].attrs["units"],
        ds["fit_cov_ab"].attrs["units"],
        ds["fit_cov_ab"].attrs["units"],
        ds["fit_var_b"].attrs["units"],
    ]
