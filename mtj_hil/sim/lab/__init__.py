"""Virtual lab: simulated instruments served on loopback sockets for end-to-end tests."""

from mtj_hil.sim.lab.clock import VirtualClock
from mtj_hil.sim.lab.scpi_smu import Applied, HeaderPattern, ScpiError, VirtualSMU
from mtj_hil.sim.lab.server import DropConnection, LineServer

__all__ = [
    "Applied",
    "DropConnection",
    "HeaderPattern",
    "LineServer",
    "ScpiError",
    "VirtualClock",
    "VirtualSMU",
]
