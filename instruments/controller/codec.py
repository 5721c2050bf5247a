"""Frame codec of the controller board's line protocol (docs/chip-protocol.md, sections 2-3).

Pure functions and constants, no I/O: the host driver (:mod:`mtj_hil.instruments.controller`) and a
virtual board serving the same protocol both use them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from mtj_hil.instruments.errors import InstrumentError

# ============================================================================================
# Frame codec (no I/O)
# ============================================================================================

MAX_FRAME_BYTES = 512
"""Longest frame in either direction, terminating LF included (SCAN replies excepted)."""

MAX_REPLY_BYTES = 4096
"""Longest reply frame: only a SCAN reply may exceed :data:`MAX_FRAME_BYTES`."""

ADC_RANGES = (1e-5, 1e-4, 1e-3, 1e-2)
"""Converter full-scale ranges (A, bipolar) the ``ARNG`` command accepts."""

PULSE_WIDTH_TOLERANCE_S = 5e-9
"""Largest difference between a requested and an applied pulse width (half the timebase)."""

PULSE_AMPLITUDE_TOLERANCE_V = 5e-3
"""Largest difference between a requested and an applied pulse amplitude (DAC step)."""

SAFE_BIAS_V = 3.3
"""Hard ceiling of the driver: no voltage above this is sent, whatever the board reports."""

COMMANDS = (
    "IDN",
    "LIM",
    "SEL",
    "EN",
    "ROUTE",
    "PULSE",
    "VREAD",
    "READ",
    "STAT",
    "RST",
    "SYNC",
    "ARNG",
    "SCAN",
    "SEQ",
)
"""Command verbs of the protocol."""

ERROR_CODES = {
    "E01": "FRAME",
    "E02": "UNKNOWN",
    "E03": "SYNTAX",
    "E04": "RANGE",
    "E05": "LIMIT",
    "E06": "STATE",
    "E07": "BUSY",
    "E08": "FAULT",
    "E09": "TEMP",
    "E10": "ABORTED",
    "E99": "INTERNAL",
}
"""Error codes of ``ERR`` replies and their short names."""

_VERB = re.compile(r"[A-Z]{1,8}")
_SEQ = re.compile(r"[0-9A-F]{2}|--")
_HEX2 = re.compile(r"[0-9A-F]{2}")
_TOKEN = re.compile(r"[\x21-\x29\x2B-\x7E]+")
"""A frame's token: printable ASCII (0x21-0x7E) without blanks and ``*`` (0x2A)."""
_ERR_CODE = re.compile(r"E\d\d")
_VOLTS = re.compile(r"-?\d{1,3}\.\d{3}")
_SECONDS = re.compile(r"\d\.\d{3}e[+-]\d{2}")


class FrameError(InstrumentError):
    """A frame violates the grammar: bad checksum, bad token, wrong sequence number, ..."""


class ControllerError(InstrumentError):
    """The controller answered ``ERR <code> <message>``.

    Attributes:
        code: the error code, e.g. ``"E05"``.
        message: the controller's message text.
        command: the verb of the command that was refused.
    """

    def __init__(self, code: str, message: str, command: str = "") -> None:
        self.code = code
        self.message = message
        self.command = command
        name = ERROR_CODES.get(code, "?")
        where = f"{command}: " if command else ""
        super().__init__(f"{where}controller error {code} ({name}): {message}")


def _crc8_table() -> tuple[int, ...]:
    """CRC-8 (polynomial 0x07) of each single byte, shifted through bit by bit."""
    table = []
    for byte in range(256):
        crc = byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
        table.append(crc)
    return tuple(table)


_CRC8_TABLE = _crc8_table()


def crc8(data: bytes) -> int:
    """CRC-8 of ``data``: polynomial 0x07, initial value 0x00, no reflection, no final XOR
    (a byte at a time through a 256-entry table).

    ``crc8(b"123456789") == 0xF4``.
    """
    crc = 0
    for byte in data:
        crc = _CRC8_TABLE[crc ^ byte]
    return crc


@dataclass(frozen=True)
class Frame:
    """One decoded frame.

    ``verb`` is the command verb (host to board) or ``OK`` / ``ERR`` (board to host);
    ``seq`` is the sequence number 0..255, or ``None`` for ``--`` (ERR replies to frames
    whose sequence number could not be trusted); ``args`` are the remaining tokens.
    """

    verb: str
    seq: int | None
    args: tuple[str, ...] = ()

    @property
    def error_code(self) -> str:
        """Error code of an ERR frame (``""`` otherwise)."""
        return self.args[0] if self.verb == "ERR" and self.args else ""

    @property
    def error_message(self) -> str:
        """Message text of an ERR frame (``""`` otherwise)."""
        return " ".join(self.args[1:]) if self.verb == "ERR" else ""


def _check_token(token: str) -> None:
    if not _TOKEN.fullmatch(token):
        raise FrameError(f"invalid token {token!r}: printable ASCII without blanks and '*'")


def encode_frame(
    verb: str, seq: int | None, args: Iterable[str] = (), max_bytes: int = MAX_FRAME_BYTES
) -> bytes:
    """Encode ``VERB SEQ ARG...*CC<LF>`` (CC: CRC-8 of everything before ``*``, upper hex).

    ``seq=None`` encodes ``--`` and is allowed only with ``verb="ERR"``.

    Raises:
        FrameError: bad verb, sequence number or token, or a frame longer than
            ``max_bytes`` (:data:`MAX_FRAME_BYTES` unless a SCAN reply).
    """
    if not _VERB.fullmatch(verb):
        raise FrameError(f"invalid verb {verb!r}")
    if seq is None:
        if verb != "ERR":
            raise FrameError("sequence number '--' is only allowed in ERR replies")
        seq_text = "--"
    else:
        if not 0 <= seq <= 0xFF:
            raise FrameError(f"sequence number {seq} outside 0..255")
        seq_text = f"{seq:02X}"
    if verb == "ERR" and (len(args) < 2 or not _ERR_CODE.fullmatch(args[0])):
        raise FrameError(f"ERR frame needs a code Enn and a message, got {list(args)!r}")
    tokens = [verb, seq_text]
    for arg in args:
        _check_token(arg)
        tokens.append(arg)
    payload = " ".join(tokens).encode("ascii")
    frame = payload + b"*" + f"{crc8(payload):02X}".encode("ascii") + b"\n"
    if len(frame) > max_bytes:
        raise FrameError(f"frame of {len(frame)} bytes exceeds {max_bytes}")
    return frame


def decode_frame(line: bytes, max_bytes: int = MAX_FRAME_BYTES) -> Frame:
    """Decode one frame; the terminating LF is optional, nothing else may follow it.

    Raises:
        FrameError: any deviation from the grammar (non-printable byte, CR, missing or
            wrong checksum, empty token, double blank, bad verb or sequence number, ...).
    """
    body = line[:-1] if line.endswith(b"\n") else line
    if len(body) + 1 > max_bytes:
        raise FrameError(f"frame longer than {max_bytes} bytes")
    if not body:
        raise FrameError("empty frame")
    bad = next((b for b in body if not 0x20 <= b <= 0x7E), None)
    if bad is not None:
        raise FrameError(f"non-printable byte 0x{bad:02X} in {line!r}")
    payload, star, crc_text = body.rpartition(b"*")
    if not star or b"*" in payload:
        raise FrameError(f"no single '*' checksum separator in {line!r}")
    if not _HEX2.fullmatch(crc_text.decode("ascii")):
        raise FrameError(f"checksum must be 2 upper-case hex digits in {line!r}")
    expected = crc8(payload)
    if int(crc_text, 16) != expected:
        raise FrameError(
            f"checksum mismatch in {line!r}: got {crc_text.decode()}, computed {expected:02X}"
        )
    tokens = payload.decode("ascii").split(" ")
    if any(not t for t in tokens):
        raise FrameError(f"empty token (leading, trailing or double blank) in {line!r}")
    if len(tokens) < 2:
        raise FrameError(f"frame needs a verb and a sequence number: {line!r}")
    verb, seq_text, *args = tokens
    if not _VERB.fullmatch(verb):
        raise FrameError(f"invalid verb {verb!r}")
    if not _SEQ.fullmatch(seq_text):
        raise FrameError(f"invalid sequence number {seq_text!r}")
    if seq_text == "--" and verb != "ERR":
        raise FrameError("sequence number '--' outside an ERR reply")
    seq = None if seq_text == "--" else int(seq_text, 16)
    if verb == "ERR" and (len(args) < 2 or not _ERR_CODE.fullmatch(args[0])):
        raise FrameError(f"ERR reply needs a code Enn and a message: {line!r}")
    return Frame(verb, seq, tuple(args))


def ok_frame(seq: int, command: str, *fields: str) -> bytes:
    """Board side: encode ``OK <seq> <command> <field>...``."""
    limit = MAX_REPLY_BYTES if command == "SCAN" else MAX_FRAME_BYTES
    return encode_frame("OK", seq, (command, *fields), max_bytes=limit)


def err_frame(seq: int | None, code: str, message: str) -> bytes:
    """Board side: encode ``ERR <seq|--> <code> <message>`` (message blanks normalised).

    Raises:
        FrameError: unknown code format, empty message or a ``*`` in the message.
    """
    if not _ERR_CODE.fullmatch(code):
        raise FrameError(f"invalid error code {code!r}")
    words = message.split()
    if not words:
        raise FrameError("empty error message")
    return encode_frame("ERR", seq, (code, *words))


# --- value formats ---------------------------------------------------------------------------


def format_volts(volts: float) -> str:
    """Volts as ``[-]D.DDD`` (millivolt resolution, no ``-0.000``)."""
    text = f"{round(float(volts), 3) + 0.0:.3f}"
    return "0.000" if text == "-0.000" else text


def parse_volts(text: str) -> float:
    """Inverse of :func:`format_volts`. Raises FrameError on any other spelling, ``-0.000``
    included (docs/chip-protocol.md section 2: "never ``-0.000``")."""
    if not _VOLTS.fullmatch(text) or text == "-0.000":
        raise FrameError(f"invalid voltage {text!r} (expected [-]D.DDD, never -0.000)")
    return float(text)


def format_seconds(seconds: float) -> str:
    """Seconds (or any non-negative SI value) as ``D.DDDe[+-]DD``."""
    return f"{float(seconds):.3e}"


def parse_seconds(text: str) -> float:
    """Inverse of :func:`format_seconds`. Raises FrameError on any other spelling."""
    if not _SECONDS.fullmatch(text):
        raise FrameError(f"invalid value {text!r} (expected D.DDDe[+-]DD)")
    return float(text)


def mask_width(n_lines: int) -> int:
    """Number of hex digits of a mask for ``n_lines`` lines: ``ceil(n_lines / 4)``."""
    return max(1, -(-n_lines // 4))


def format_mask(indices: Iterable[int], n_lines: int) -> str:
    """Hex bitmask (bit i = line i, upper case, exactly :func:`mask_width` digits).

    Raises:
        ValueError: an index outside ``0..n_lines-1``.
    """
    bits = 0
    for i in indices:
        if not 0 <= i < n_lines:
            raise ValueError(f"line index {i} outside 0..{n_lines - 1}")
        bits |= 1 << i
    return f"{bits:0{mask_width(n_lines)}X}"


def parse_mask(text: str, n_lines: int) -> npt.NDArray[np.bool_]:
    """Inverse of :func:`format_mask`, as a boolean array of length ``n_lines``.

    Raises:
        FrameError: wrong width, not upper-case hex, or bits set beyond ``n_lines``.
    """
    if not re.fullmatch(rf"[0-9A-F]{{{mask_width(n_lines)}}}", text):
        raise FrameError(f"invalid mask {text!r} for {n_lines} lines")
    bits = int(text, 16)
    if bits >> n_lines:
        raise FrameError(f"mask {text} has bits beyond line {n_lines - 1}")
    as_bytes = np.frombuffer(bits.to_bytes(-(-n_lines // 8) or 1, "little"), np.uint8)
    return np.unpackbits(as_bytes, count=n_lines, bitorder="little").astype(bool)


def encode_codes(codes: Iterable[int], bits: int = 12) -> str:
    """Converter codes as concatenated fixed-width upper hex (3 digits for 12 bits)."""
    width = -(-bits // 4)
    out = []
    for code in codes:
        if not 0 <= code < (1 << bits):
            raise ValueError(f"code {code} outside 0..{(1 << bits) - 1}")
        out.append(f"{code:0{width}X}")
    return "".join(out)


def decode_codes(text: str, n: int, bits: int = 12) -> npt.NDArray[np.int64]:
    """Inverse of :func:`encode_codes` for exactly ``n`` codes. Raises FrameError."""
    width = -(-bits // 4)
    if len(text) != n * width or not re.fullmatch(r"[0-9A-F]*", text):
        raise FrameError(f"expected {n} codes of {width} hex digits, got {text!r}")
    codes = np.array([int(text[i : i + width], 16) for i in range(0, len(text), width)])
    if codes.size and codes.max() >= (1 << bits):
        raise FrameError(f"code above {bits} bits in {text!r}")
    return codes.astype(np.int64)


def parse_fields(args: Sequence[str]) -> dict[str, str]:
    """``key=value`` tokens to a dict. Raises FrameError on a bare token or a repeated key."""
    fields: dict[str, str] = {}
    for arg in args:
        key, eq, value = arg.partition("=")
        if not eq or not key or not value:
            raise FrameError(f"expected key=value, got {arg!r}")
        if key in fields:
            raise FrameError(f"repeated key {key!r}")
        fields[key] = value
    return fields


def _require(fields: dict[str, str], *keys: str) -> list[str]:
    missing = [k for k in keys if k not in fields]
    if missing:
        raise FrameError(f"reply lacks field(s) {', '.join(missing)}")
    return [fields[k] for k in keys]


def _parse_int(text: str) -> int:
    if not re.fullmatch(r"\d{1,9}", text):
        raise FrameError(f"invalid integer {text!r}")
    return int(text)


def _parse_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FrameError(f"invalid number {text!r}") from None
    if not math.isfinite(value):
        raise FrameError(f"non-finite number {text!r}")
    return value
