"""A device whose fit the data cannot place (a singular covariance: an extreme ``tau0`` such
as ``switching --tau0 1e-17``, which the option allows) keeps its shrunk estimate; it used to
make ``np.linalg.inv`` raise for the whole array, and the command exit 1 with "Singular
matrix", leaving a run whose resume failed the same way."""

from __future__ import annotations

import numpy as np

from mtj_hil.cli import main
from mtj_hil.protocols.switching.fit import STATUS_OK, unshrunk_delta


def test_a_singular_covariance_keeps_that_device_s_estimate_and_spares_the_rest():
    vc = np.array([0.5, 0.52, 0.48])
    delta = np.array([40.0, 42.0, 38.0])
    cov = np.stack([np.diag([0.01, 0.04])] * 3)  # well measured devices
    cov[1] = [[1.0, 2.0], [2.0, 4.0]]  # singular
    status = np.full(3, STATUS_OK)
    out, sd = unshrunk_delta(vc, delta, cov, status)
    assert np.isfinite(out).all() and np.isfinite(sd).all()
    assert out[1] == delta[1]  # nothing to unshrink: the MAP stays
    assert out[2] != delta[2]  # the others are unshrunk as before (device 0 is the centre)


def test_the_smallest_tau0_the_option_allows_finishes_the_run(tmp_path):
    out = tmp_path / "sw.h5"
    args = ["switching", "--profile", "passive-15x15", "--arrays", "0", "--no-report"]
    assert main([*args, "--tau0", "1e-17", "--out", str(out)]) == 0
