"""Driver for the crossbar test-chip controller board (protocol: docs/chip-protocol.md).

This module is the driver's public face; the work is split into modules with one job each,
all re-exported here so that ``from mtj_hil.instruments.controller import ...`` keeps working:

* :mod:`mtj_hil.instruments.controller.codec`: the pure frame codec (:func:`crc8`,
  :func:`encode_frame`, :func:`decode_frame`, the value formatters/parsers,
  :func:`ok_frame` / :func:`err_frame`), no I/O, shared with the virtual board;
* :mod:`mtj_hil.instruments.controller.port`: opening the pyserial port with the station's options;
* :mod:`mtj_hil.instruments.controller.link`: sequence numbers, the transaction engine (computed
  timeouts, bounded retries, resynchronisation) and the session handshake (SYNC, IDN, LIM);
* :mod:`mtj_hil.instruments.controller.replies`: decoding and checking replies (identity, STAT,
  PULSE, READ/SCAN codes);
* :mod:`mtj_hil.instruments.controller.types`: the value types (:class:`ChipIdentity`,
  :class:`ControllerStatus`, :class:`PulseReport`, :class:`ReadResult`...);
* :mod:`mtj_hil.instruments.controller.commands`: :class:`ChipController`, the board's commands.

All quantities of the public API are SI: volts, seconds, amperes.
"""

from __future__ import annotations

from mtj_hil.instruments.controller.codec import (
    ADC_RANGES,
    COMMANDS,
    ERROR_CODES,
    MAX_FRAME_BYTES,
    MAX_REPLY_BYTES,
    SAFE_BIAS_V,
    ControllerError,
    Frame,
    FrameError,
    crc8,
    decode_codes,
    decode_frame,
    encode_codes,
    encode_frame,
    err_frame,
    format_mask,
    format_seconds,
    format_volts,
    mask_width,
    ok_frame,
    parse_fields,
    parse_mask,
    parse_seconds,
    parse_volts,
)
from mtj_hil.instruments.controller.commands import ChipController
from mtj_hil.instruments.controller.types import (
    FLAG_HOST_WATCHDOG,
    ChipIdentity,
    ChipLimits,
    ControllerStatus,
    HostWatchdogFired,
    Polarity,
    PulseReport,
    ReadResult,
    ReplyMismatch,
    RouteMode,
)

__all__ = [
    "COMMANDS",
    "ERROR_CODES",
    "ADC_RANGES",
    "MAX_FRAME_BYTES",
    "MAX_REPLY_BYTES",
    "SAFE_BIAS_V",
    "ChipController",
    "FLAG_HOST_WATCHDOG",
    "HostWatchdogFired",
    "Polarity",
    "RouteMode",
    "ChipIdentity",
    "ChipLimits",
    "ControllerError",
    "ControllerStatus",
    "Frame",
    "FrameError",
    "PulseReport",
    "ReadResult",
    "ReplyMismatch",
    "crc8",
    "decode_codes",
    "decode_frame",
    "encode_codes",
    "encode_frame",
    "err_frame",
    "format_mask",
    "format_seconds",
    "format_volts",
    "mask_width",
    "ok_frame",
    "parse_fields",
    "parse_mask",
    "parse_seconds",
    "parse_volts",
]
