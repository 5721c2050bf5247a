"""The ``mtj-hil`` command: one module per command group under a root group in ``main``."""

from mtj_hil.cli.main import EXIT_CODES, cli, main

__all__ = ["EXIT_CODES", "cli", "main"]

from mtj_hil.compat.legacy_names import forwarder as _forwarder

__getattr__ = _forwarder(
    __name__, ("mtj_hil.cli.main", "mtj_hil.cli.common", "mtj_hil.cli.characterize")
)
"""0.1 names of this module that moved (deprecated)."""
