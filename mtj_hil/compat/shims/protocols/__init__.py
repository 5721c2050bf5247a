"""Deprecated name of :mod:`mtj_hil.protocols` (installed as the top-level package ``protocols``)."""

from mtj_hil.compat.legacy_names import install

install("protocols")
