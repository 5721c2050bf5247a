"""Value types of the controller driver: what the board reports, in SI units, and the
argument checks shared by the command methods (no I/O)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
import numpy.typing as npt

from mtj_hil.instruments.errors import InstrumentError, SafetyViolation

__all__ = [
    "ChipIdentity",
    "ChipLimits",
    "ControllerStatus",
    "Polarity",
    "PulseReport",
    "ReadResult",
    "FLAG_HOST_WATCHDOG",
    "HostWatchdogFired",
    "ReplyMismatch",
    "RouteMode",
    "as_polarity",
    "finite",
]


class ReplyMismatch(InstrumentError):
    """The board's reply to PULSE or SCAN does not describe what was asked (amplitude,
    width, polarity, cell or line count): the host must not assume the request was done."""


class HostWatchdogFired(InstrumentError):
    """The board's host watchdog fired (``STAT`` flag bit 4, docs/chip-protocol.md section
    9.4): no frame arrived for ``t_watchdog`` with a route held, so the board reset itself
    to the safe state (routes off, lines at 0 V). Whatever the host measured through the
    board since then was not the die; ``RST`` clears the flag."""


#: ``STAT`` flag bit 3: the board's own (firmware) watchdog reset it since power-up
FLAG_MCU_RESET = 1 << 3
#: ``STAT`` flag bit 4: the host watchdog fired (protocol section 9.4)
FLAG_HOST_WATCHDOG = 1 << 4

RouteMode = Literal["OFF", "WRITE", "SMU", "ADC"]
Polarity = Literal["POS", "NEG"]


@dataclass(frozen=True)
class ChipLimits:
    """Limits and timing reported by ``LIM`` (volts, seconds)."""

    vpulse_max: float
    width_min: float
    width_max: float
    vread_min: float
    vread_max: float
    adc_bits: int
    t_cmd: float
    t_route: float
    t_pulse: float
    t_dac: float
    t_read: float
    t_int: float = 0.0
    t_step: float = 0.0
    """Firmware 1.3: execution time of one sequence step (s; 0 when not reported)."""
    t_seq_max: float = 0.0
    """Firmware 1.3: longest a sequence run may last (s; 0 when not reported)."""


@dataclass(frozen=True)
class ChipIdentity:
    """What ``IDN`` and ``LIM`` reported: board, firmware, die geometry and limits.

    ``references`` is the number of on-board reference resistors (``IDN refs``, firmware
    1.2; 0 when the board does not report it); ``sequence_steps`` the steps its sequence
    buffer holds (``IDN seq``, firmware 1.3; 0 when it has none).
    """

    model: str
    serial: str
    firmware: str
    die: str
    arrays: int
    rows: int
    cols: int
    limits: ChipLimits
    references: int = 0
    sequence_steps: int = 0


@dataclass(frozen=True)
class ControllerStatus:
    """Decoded ``STAT`` reply.

    ``route`` is OFF/WRITE/SMU/ADC, ``smu_line`` and ``input_source`` are set in SMU mode,
    ``last_error`` is ``"E00"`` when no error occurred since the last RST, ``flags`` is the
    fault bitfield (see the protocol), ``temperature_c`` in degrees Celsius.
    """

    busy: bool
    last_error: str
    array: int | None
    route: str
    smu_line: int | None
    input_source: str | None
    rows_mask: npt.NDArray[np.bool_] | None
    cols_mask: npt.NDArray[np.bool_] | None
    temperature_c: float
    flags: int

    @property
    def host_watchdog_fired(self) -> bool:
        """Flag bit 4: the board went to the safe state by itself (protocol section 9.4)."""
        return bool(self.flags & FLAG_HOST_WATCHDOG)

    @property
    def mcu_reset(self) -> bool:
        """Flag bit 3: the board's own watchdog reset it since power-up (protocol section
        3, ``STAT``; section 9.4, firmware fault). Neither ``RST`` nor anything else the host
        sends clears it."""
        return bool(self.flags & FLAG_MCU_RESET)


@dataclass(frozen=True)
class PulseReport:
    """The pulse the board actually applied (after its quantisation)."""

    amplitude_v: float
    width_s: float
    polarity: Polarity
    cells: int


@dataclass(frozen=True)
class ReadResult:
    """One bulk read: raw codes, scale and currents (A) of all output lines."""

    codes: npt.NDArray[np.int64]
    lsb_a: float
    zero_code: int
    currents_a: npt.NDArray[np.float64]
    saturated: npt.NDArray[np.bool_]


def as_polarity(polarity: Any) -> Polarity:
    """``"POS"``/``"+"``/``+1`` -> ``"POS"``, ``"NEG"``/``"-"``/``-1`` -> ``"NEG"``.

    Raises:
        ValueError: anything else.
    """
    if isinstance(polarity, str):
        text = polarity.strip().upper()
        if text in ("POS", "+", "+1"):
            return "POS"
        if text in ("NEG", "-", "-1"):
            return "NEG"
    elif isinstance(polarity, int | np.integer) and not isinstance(polarity, bool):
        if polarity == 1:
            return "POS"
        if polarity == -1:
            return "NEG"
    raise ValueError(f"polarity must be 'POS'/'NEG', '+'/'-' or +1/-1, got {polarity!r}")


def finite(name: str, value: float) -> float:
    """``value`` as a float.

    Raises:
        ValueError: not a number.
        SafetyViolation: NaN or infinite (never sent to the board).
    """
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not math.isfinite(v):
        raise SafetyViolation(f"{name} = {v} is not finite")
    return v
