"""How a virtual board is built: its modelled timing, its read path's imperfections, and
the faults a test can inject."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class BoardTiming:
    """Modelled durations (s) of the reference board; see section 6 of the protocol.

    ``t_int`` is the converters' integration time per conversion (one power-line cycle at
    60 Hz by default, which rejects mains pick-up).
    """

    t_cmd: float = 2e-3
    t_route: float = 5e-3
    t_pulse: float = 1e-4
    t_dac: float = 2e-4
    t_read: float = 1.5e-3
    t_int: float = 1 / 60
    baudrate: int = 115200
    t_step: float = 1e-5
    """Firmware 1.3: execution overhead of one sequence step (s)."""
    t_seq_max: float = 30.0
    """Firmware 1.3: longest run a sequence may take (s); kept below the host watchdog."""


@dataclass(frozen=True)
class ReadPathImperfections:
    """Imperfections of the board's read path, drawn once per board from ``seed``.

    The defaults are what the virtual lab ships with (see ``docs/chip-protocol.md``):

    Attributes:
        converter_gain_sigma: spread (1 sigma, relative) of the gain of each output line's
            converter around 1; default 0.02 (2 %). The same on every range.
        converter_offset_sigma: spread (1 sigma, A) of each converter's offset current,
            referred to its input; default 3e-7 A (0.3 uA, about 6 LSB on the 1e-4 A range).
        series_resistance: resistance (ohm) of the SMU connector path (relays, traces, cable,
            probe contact) in series with whatever is routed to the SMU; default 20 ohm.
        reference_ohms: nominal values (ohm) of the on-board reference resistors.
        reference_tolerance: the true values lie uniformly within this relative tolerance
            of the nominal ones; default 1e-3 (0.1 %).
        seed: seed of this board's parts (a real board keeps its errors from day to day).
        converter_noise_density: white current noise of each converter, referred to its
            input (A/sqrt(Hz)); a conversion integrating for T seconds shows
            ``density / sqrt(2 T)`` (1 sigma); default 2e-9 (11 nA at one mains cycle).
        mains_pickup: amplitude (A) of mains-frequency pick-up at the converters' inputs. An
            integration over whole mains cycles cancels it; a shorter one keeps the part of
            the cycle it saw (random phase per conversion); default 2e-7 A.
    """

    converter_gain_sigma: float = 0.02
    converter_offset_sigma: float = 3e-7
    series_resistance: float = 20.0
    reference_ohms: tuple[float, ...] = (1000.0, 4990.0, 10000.0)
    reference_tolerance: float = 1e-3
    seed: int = 1
    converter_noise_density: float = 2e-9
    mains_pickup: float = 2e-7

    @classmethod
    def ideal(cls) -> ReadPathImperfections:
        """A perfect read path (unit gains, no offsets, no series resistance)."""
        return cls(
            0.0, 0.0, 0.0, reference_tolerance=0.0, converter_noise_density=0.0, mains_pickup=0.0
        )


@dataclass
class BoardFaults:
    """Faults to inject (tests set these; each counter is consumed as frames arrive).

    Attributes:
        drop_after: drop the connection when this many more frames have arrived.
        silent: do not answer (nor execute) the next this-many frames (host sees a timeout).
        dead: never answer again (the board hung).
        garbage: bytes sent before the next reply.
        error_next: ``(code, message)`` to answer the next command with, unexecuted.
        dead_lines: output lines whose converter does not respond (always the zero code).
        lose_reply_of: execute the next frame whose verb and arguments start with this text
            (e.g. ``"SEQ RUN"``) but lose its reply on the wire.
        abort_run_at_step: an ``RST`` arrives while a sequence runs this step (firmware 1.3).
        drop_run_at_step: the link is lost while a sequence runs this step.
        reset_run_at_step: the board's own watchdog resets it while a sequence runs this step
            (power-up state, ``STAT`` flag bit 3, no reply to the run).
        dat_fault: the next streamed replies (a sequence run's, or its replay) reach the host
            with their first ``DAT`` frame ``"duplicated"``, ``"dropped"`` or ``"swapped"``
            with the second, on the wire only (the board keeps the reply it replays intact).
        dat_fault_replies: how many streamed replies ``dat_fault`` damages (1: a one-off).
    """

    drop_after: int | None = None
    silent: int = 0
    dead: bool = False
    garbage: bytes = b""
    error_next: tuple[str, str] | None = None
    dead_lines: set[int] = field(default_factory=set)
    lose_reply_of: str | None = None
    abort_run_at_step: int | None = None
    drop_run_at_step: int | None = None
    reset_run_at_step: int | None = None
    dat_fault: str | None = None
    dat_fault_replies: int = 1
