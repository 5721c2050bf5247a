"""Exceptions raised by the application layer (configuration, run files), the warnings a
user must see (:func:`tell_user`) and the wording of counts in messages (:func:`counted`)."""

from __future__ import annotations

import logging
import warnings


class ConfigError(ValueError):
    """A profile, station file or command option is malformed or out of range.

    The message names the file (if any), the key and what is allowed.
    """


class StoreError(RuntimeError):
    """A run file cannot be created, opened, resumed or read (foreign, damaged, exists)."""


class UnsafeShutdownWarning(UserWarning):
    """A shutdown after Ctrl-C (or a stop signal) could not confirm the bench safe: the
    controller board did not confirm its lines at 0 V, or an SMU output was not confirmed
    off. Said while the interrupt goes on (the message says what to check by hand)."""


class FallbackWarning(UserWarning):
    """The bench takes a slower path than it was built for (e.g. a controller board whose
    firmware runs no board-side sequences): the results are the same, the run is slower."""


def tell_user(logger: logging.Logger, message: str, category: type[Warning]) -> None:
    """Say ``message`` to the user: as a warning of ``category`` (``mtj-hil`` prints it as
    one ``warning (Category): ...`` line on stderr), and logged on ``logger`` when a handler
    takes it (during a run, the run file's timeline records it). With no handler at all it
    is not logged, so logging's last-resort handler does not print it a second time."""
    if logger.hasHandlers():
        logger.warning("%s", message)
    warnings.warn(message, category, stacklevel=3)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` as a message says them: ``"1 run"``, ``"3 runs"``, ``"0 runs"``.

    ``plural`` is the plural form when it is not ``noun + "s"``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"
