"""Arguments of the board's commands as its firmware parses them (docs/chip-protocol.md,
section 4): each parser returns the value or raises :class:`Refused` with the error code the
board answers."""

from __future__ import annotations

import numpy as np

from mtj_hil.instruments.controller import FrameError, mask_width, parse_seconds, parse_volts


class Refused(Exception):
    """A command the board refuses: ``code`` (``E01``..) and the message of its ERR frame."""

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def clean(text: str) -> str:
    """``text`` as one line fit for an ERR frame (no ``*``, single spaces, never empty)."""
    return " ".join(text.replace("*", "#").split()) or "bad frame"


def arg_int(text: str) -> int:
    """A non-negative decimal integer of at most 9 digits."""
    if not text.isdigit() or len(text) > 9:
        raise Refused("E03", f"expected an integer, got {text}")
    return int(text)


def arg_volts(text: str) -> float:
    """A voltage in the protocol's fixed-point form (V)."""
    try:
        return parse_volts(text)
    except FrameError as exc:
        raise Refused("E03", clean(str(exc))) from None


def arg_seconds(text: str) -> float:
    """A duration in the protocol's engineering form (s)."""
    try:
        return parse_seconds(text)
    except FrameError as exc:
        raise Refused("E03", clean(str(exc))) from None


def arg_mask(text: str, n_lines: int) -> np.ndarray:
    """A line mask: upper-case hex of the protocol's width, no bit beyond ``n_lines``."""
    width = mask_width(n_lines)
    if len(text) != width or any(c not in "0123456789ABCDEF" for c in text):
        raise Refused("E03", f"mask {text} must be {width} upper-case hex digits")
    bits = int(text, 16)
    if bits >> n_lines:
        raise Refused("E04", f"mask {text} has bits beyond line {n_lines - 1}")
    return np.array([(bits >> i) & 1 == 1 for i in range(n_lines)], dtype=bool)
