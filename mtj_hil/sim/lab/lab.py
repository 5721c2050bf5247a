"""The virtual lab: a simulated die behind a virtual controller board and a virtual SMU.

Both instruments speak their real wire protocols on loopback sockets (the board for pyserial
at ``socket://127.0.0.1:PORT``, the SMU as SCPI for pyvisa-py at
``TCPIP::127.0.0.1::PORT::SOCKET``) and share one die and one :class:`VirtualClock`, so the
SMU's current follows the board's routing and the devices' states, and a run reports the lab
time it would have taken.
"""

from __future__ import annotations

from types import TracebackType
from typing import Self

from mtj_hil.sim.die import SimulatedDie, make_die
from mtj_hil.sim.lab.board import BoardTiming, VirtualBoard
from mtj_hil.sim.lab.clock import VirtualClock
from mtj_hil.sim.lab.scpi_smu import VirtualSMU
from mtj_hil.sim.lab.server import LineServer
from mtj_hil.sim.profile import DeviceProfile, load_profile


class VirtualLab:
    """A running virtual station: start with ``with VirtualLab(...) as lab:``.

    Args:
        profile: die profile (object or shipped name).
        lot_seed, die_index: which simulated die sits in the socket.
        smu_latency: modelled cost of one SMU bus transaction (s).
        line_frequency: mains frequency (Hz) for NPLC integration times.
        timing: the board's modelled durations.
        p_polarity: the pulse polarity that writes P on this die.
    """

    def __init__(
        self,
        profile: DeviceProfile | str = "1t1r-20k",
        lot_seed: int = 0,
        die_index: int = 0,
        *,
        smu_latency: float = 2e-3,
        line_frequency: float = 60.0,
        timing: BoardTiming | None = None,
        p_polarity: str = "POS",
        die: SimulatedDie | None = None,
    ) -> None:
        prof = load_profile(profile) if isinstance(profile, str) else profile
        self.die = die or make_die(prof, lot_seed, die_index)
        self.die_id = f"sim:{prof.name}:lot{lot_seed}:die{die_index}"
        self.clock = VirtualClock()
        self.board = VirtualBoard(
            self.die,
            self.clock,
            timing or BoardTiming(t_int=1.0 / line_frequency),
            p_polarity=p_polarity,
        )
        self.smu = VirtualSMU(
            self.board.smu_current,
            clock=self.clock,
            latency=smu_latency,
            line_frequency=line_frequency,
        )
        self.board_server = LineServer(self.board.handle, encoding=None, name="virtual-board")
        self.smu_server = LineServer(self.smu.handle, name="virtual-smu")

    @property
    def controller_url(self) -> str:
        """pyserial URL of the virtual controller board."""
        return self.board_server.url

    @property
    def smu_resource(self) -> str:
        """VISA resource string of the virtual SMU."""
        return self.smu_server.resource

    def start(self) -> Self:
        self.board_server.start()
        self.smu_server.start()
        return self

    def stop(self) -> None:
        self.board_server.stop()
        self.smu_server.stop()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
