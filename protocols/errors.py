"""Exceptions raised by the protocol layer."""

from __future__ import annotations

from collections.abc import Callable

Spell = Callable[[str, object], str]
"""How a setting and its value are written where the user gave them, e.g.
``("probe_trials", 20) -> "--probe-trials 20"`` on the command line."""


class ProtocolError(RuntimeError):
    """A measurement procedure could not do what was asked (bad data, inconsistent results)."""


class InvalidRequest(ProtocolError, ValueError):
    """A request to a chip names an address, shape or dtype the die does not accept.

    Raised before anything is applied to a device.
    """


class SettingRefused(InvalidRequest):
    """A plan setting refused before anything is applied; ``setting`` names it as the plan
    spells it (e.g. ``"trials"``), so a caller can point at its own key or option without
    reading the message."""

    def __init__(self, setting: str, message: str) -> None:
        super().__init__(message)
        self.setting = setting


class OutsideLimits(InvalidRequest):
    """A voltage, pulse amplitude or pulse width outside the die's safety limits (its
    envelope), refused before anything is applied."""


class SettingOutsideLimits(SettingRefused, OutsideLimits):
    """A plan setting outside the die's safety limits; ``setting`` names it."""


def refused_setting(setting: str, exc: InvalidRequest) -> SettingRefused:
    """``exc`` (from a shared check) as a refusal of ``setting``, still an
    :class:`OutsideLimits` when it was one."""
    kind = SettingOutsideLimits if isinstance(exc, OutsideLimits) else SettingRefused
    return kind(setting, str(exc))


def plain_setting(name: str, value: object) -> str:
    """A setting as the library spells it: ``probe_trials=20`` (the default :data:`Spell`)."""
    return f"{name}={value!r}"
