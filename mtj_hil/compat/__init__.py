"""Compatibility with earlier releases (old import names)."""
