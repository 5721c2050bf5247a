"""Virtual lab: simulated instruments served on loopback sockets for end-to-end tests."""

from mtj_hil.sim.lab.clock import VirtualClock
from mtj_hil.sim.lab.dialects import SMU_DIALECTS, START_STATES, make_virtual_smu
from mtj_hil.sim.lab.scpi import HeaderPattern, ScpiError
from mtj_hil.sim.lab.scpi_smu import Keithley2400, VirtualSMU
from mtj_hil.sim.lab.server import DropConnection, LineServer
from mtj_hil.sim.lab.smu_core import Applied, VirtualInstrument

__all__ = [
    "SMU_DIALECTS",
    "START_STATES",
    "Applied",
    "DropConnection",
    "HeaderPattern",
    "Keithley2400",
    "LineServer",
    "ScpiError",
    "VirtualClock",
    "VirtualInstrument",
    "VirtualSMU",
    "make_virtual_smu",
]
