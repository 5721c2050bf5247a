"""Exceptions raised by the protocol layer."""

from __future__ import annotations


class ProtocolError(RuntimeError):
    """A measurement procedure could not do what was asked (bad data, inconsistent results)."""


class InvalidRequest(ProtocolError, ValueError):
    """A request to a chip names an address, shape or dtype the die does not accept.

    Raised before anything is applied to a device.
    """
