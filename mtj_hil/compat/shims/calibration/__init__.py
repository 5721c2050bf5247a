"""Deprecated name of :mod:`mtj_hil.calibration` (installed as the top-level package ``calibration``)."""

from mtj_hil.compat.legacy_names import install

install("calibration")
