"""Deprecated name of :mod:`mtj_hil.instruments` (installed as the top-level package ``instruments``)."""

from mtj_hil.compat.legacy_names import install

install("instruments")
