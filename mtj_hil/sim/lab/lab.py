"""The virtual lab: a simulated die behind a virtual controller board and a virtual SMU.

Both instruments speak their real wire protocols on loopback sockets (the board for pyserial
at ``socket://127.0.0.1:PORT``, the SMU as SCPI for pyvisa-py at
``TCPIP::127.0.0.1::PORT::SOCKET``) and share one die and one :class:`VirtualClock`, so the
SMU's current follows the board's routing and the devices' states, and a run reports the lab
time it would have taken.

The instruments are imperfect by default (:class:`LabImperfections`), as real ones are: the
SMU has a gain error and an offset, and the board's read path has per-line converter gain
and offset errors and a series resistance (see
:class:`~mtj_hil.sim.lab.board_setup.ReadPathImperfections`). ``mtj-hil calibrate`` measures them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from types import TracebackType
from typing import Self

from mtj_hil.sim.die import SimulatedDie, make_die, simulated_die_id
from mtj_hil.sim.lab.board import FIRMWARE, VirtualBoard
from mtj_hil.sim.lab.board_setup import BoardTiming, ReadPathImperfections
from mtj_hil.sim.lab.clock import VirtualClock
from mtj_hil.sim.lab.server import LineServer
from mtj_hil.sim.lab.smu.core import VirtualInstrument
from mtj_hil.sim.lab.smu.dialects import make_virtual_smu
from mtj_hil.sim.profile import DeviceProfile, load_profile


@dataclass(frozen=True)
class LabImperfections:
    """What is wrong with the virtual lab's instruments (the values it ships with).

    Attributes:
        smu_gain: true gain of the SMU's current measurement; default 1.003 (+0.3 %).
        smu_offset: SMU offset current (A); default 5e-8 A (50 nA).
        smu_noise_abs: SMU reading noise (A, 1 sigma); default 2e-10 A.
        smu_noise_rel: relative SMU reading noise (1 sigma); default 2e-5.
        board: the board's read path (converter gains and offsets, series resistance,
            reference resistors); defaults in :class:`ReadPathImperfections`.
    """

    smu_gain: float = 1.003
    smu_offset: float = 5e-8
    smu_noise_abs: float = 2e-10
    smu_noise_rel: float = 2e-5
    board: ReadPathImperfections = field(default_factory=ReadPathImperfections)

    @classmethod
    def ideal(cls) -> LabImperfections:
        """Perfect instruments (what the virtual lab modelled before calibration existed)."""
        return cls(1.0, 0.0, 0.0, 0.0, ReadPathImperfections.ideal())


class VirtualLab:
    """A running virtual station: start with ``with VirtualLab(...) as lab:``.

    Args:
        profile: die profile (object or shipped name).
        lot_seed, die_index: which simulated die sits in the socket.
        smu_latency: modelled cost of one SMU bus transaction (s).
        pace: wall seconds waited per modelled second (0: as fast as the computer goes;
            1: real time; see :class:`~mtj_hil.sim.lab.clock.VirtualClock`).
        line_frequency: mains frequency (Hz) for NPLC integration times.
        timing: the board's modelled durations.
        p_polarity: the pulse polarity that writes P on this die.
        die: a die object to serve instead of drawing one from the lot.
        imperfections: instrument errors; ``None`` = the defaults of
            :class:`LabImperfections`.
        smu_dialect: which SMU the lab serves (a name of
            :data:`~mtj_hil.sim.lab.smu.dialects.SMU_DIALECTS`, e.g. ``"keithley2450"``).
        smu_start: the state the SMU is found in (a name of
            :data:`~mtj_hil.sim.lab.smu.dialects.START_STATES`, default ``"power-on"``).
        smu_channel: the channel the board is wired to on a two-channel SMU (``"a"``/``"b"``
            on a 26xx, ``"1"``/``"2"`` on a B2900); default the first.
        board_firmware: the controller board's firmware version (default the newest,
            ``"1.4.0"``: sequences, pipelined conversions and threshold maps; ``"1.3.0"``
            has no maps, ``"1.2.0"`` serves the protocol as before sequences).

    Raises:
        ValueError: an unknown dialect or start state.
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
        imperfections: LabImperfections | None = None,
        smu_dialect: str = "keithley2400",
        smu_start: str = "power-on",
        smu_channel: str | None = None,
        board_firmware: str = FIRMWARE,
        pace: float = 0.0,
    ) -> None:
        imp = imperfections if imperfections is not None else LabImperfections()
        self.imperfections = imp
        prof = load_profile(profile) if isinstance(profile, str) else profile
        self.die = die or make_die(prof, lot_seed, die_index)
        self.die_id = simulated_die_id(prof.name, lot_seed, die_index)
        self.clock = VirtualClock(pace=pace)
        self.board = VirtualBoard(
            self.die,
            self.clock,
            timing or BoardTiming(t_int=1.0 / line_frequency),
            p_polarity=p_polarity,
            imperfections=imp.board,
            firmware=board_firmware,
        )
        self.smu_dialect = smu_dialect
        self.smu = make_virtual_smu(
            smu_dialect,
            self.board.smu_current,
            clock=self.clock,
            start=smu_start,
            load_channel=smu_channel,
            latency=smu_latency,
            line_frequency=line_frequency,
            gain=imp.smu_gain,
            offset=imp.smu_offset,
            noise_abs=imp.smu_noise_abs,
            noise_rel=imp.smu_noise_rel,
        )
        self.board_server = LineServer(self.board.handle, encoding=None, name="virtual-board")
        self.extra_smus: dict[str, tuple[VirtualInstrument, LineServer]] = {}
        self._smu_start = smu_start
        self._started = False
        self.smu_server = LineServer(
            self.smu.handle,
            name="virtual-smu",
            max_line=1 << 16,
            on_overlong=self.smu.overlong_line,
        )

    @property
    def controller_url(self) -> str:
        """pyserial URL of the virtual controller board."""
        return self.board_server.url

    @property
    def smu_resource(self) -> str:
        """VISA resource string of the virtual SMU wired to the board."""
        return self.smu_server.resource

    def add_smu(self, name: str, dialect: str) -> str:
        """Serve one more virtual SMU of ``dialect`` with open terminals (not wired to the
        board), found in the lab's start state; returns its VISA resource.

        :raises ValueError: an unknown dialect, or ``name`` already used.
        """
        if name in self.extra_smus:
            raise ValueError(f"virtual SMU {name!r} exists already")
        smu = make_virtual_smu(dialect, lambda volts: 0.0, clock=self.clock, start=self._smu_start)
        server = LineServer(
            smu.handle, name=f"virtual-smu-{name}", max_line=1 << 16, on_overlong=smu.overlong_line
        )
        self.extra_smus[name] = (smu, server)
        if self._started:
            server.start()
        return server.resource

    def start(self) -> Self:
        self.board_server.start()
        self.smu_server.start()
        for _smu, server in self.extra_smus.values():
            server.start()
        self._started = True
        return self

    def stop(self) -> None:
        self.board_server.stop()
        self.smu_server.stop()
        for _smu, server in self.extra_smus.values():
            server.stop()
        self._started = False

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()
