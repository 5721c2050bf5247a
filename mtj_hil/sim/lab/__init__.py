"""Virtual lab: simulated instruments served on loopback sockets for end-to-end tests."""

from mtj_hil.sim.lab.clock import VirtualClock
from mtj_hil.sim.lab.server import DropConnection, LineServer
from mtj_hil.sim.lab.smu.core import Applied, VirtualInstrument
from mtj_hil.sim.lab.smu.dialects import SMU_DIALECTS, START_STATES, make_virtual_smu
from mtj_hil.sim.lab.smu.keithley2400 import Keithley2400, VirtualSMU
from mtj_hil.sim.lab.smu.scpi import HeaderPattern, ScpiError

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
