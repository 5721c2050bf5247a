"""Instrument layer: drivers for source-measure units and the test-chip controller.

This package knows wires and commands (SCPI, TSP, the controller's line protocol) and the
safety envelope; it knows nothing about MTJs or neural networks.
"""

from mtj_hil.instruments.errors import InstrumentError, InstrumentTimeout, SafetyViolation

__all__ = ["InstrumentError", "InstrumentTimeout", "SafetyViolation"]
