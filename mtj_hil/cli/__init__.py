"""The ``mtj-hil`` command: one module per command group under a root group in ``main``."""

from mtj_hil.cli.main import EXIT_CODES, cli, main

__all__ = ["EXIT_CODES", "cli", "main"]
