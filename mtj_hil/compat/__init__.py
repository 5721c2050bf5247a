"""Compatibility with earlier releases (old import names), and packages' public names loaded
on first use (:mod:`mtj_hil.compat.lazy`)."""
