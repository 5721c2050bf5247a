"""Pulses and read voltages as they go on the wire, checked as they go (docs/chip-protocol.md,
sections 2 and 6).

The protocol carries voltages with millivolt resolution (:func:`format_volts`) and times
with four significant digits (:func:`format_seconds`): a request inside a limit the wire
cannot express exactly may go out as a value beyond it (0.2996 V is sent as ``0.300``).
Every pulse and read voltage the driver sends, as a single command or as a sequence step,
is formatted here and checked twice against the board's limits and the station's safety
envelope: as asked, and as the wire carries it. No I/O.
"""

from __future__ import annotations

from typing import Any, Protocol

import numpy as np

from mtj_hil.instruments.controller.codec import format_seconds, format_volts
from mtj_hil.instruments.errors import SafetyViolation

__all__ = [
    "VOLTAGE_STEP",
    "WIDTH_DIGITS",
    "BoardBounds",
    "checked_pulse",
    "checked_reads",
    "sent_seconds",
    "sent_volts",
]

VOLTAGE_STEP = 1e-3
"""Resolution (V) of every voltage the wire carries (:func:`format_volts`)."""
WIDTH_DIGITS = 4
"""Significant digits of every time the wire carries (:func:`format_seconds`)."""


class BoardBounds(Protocol):
    """The board's limits a pulse or read voltage is checked against (V, s); a
    :class:`~mtj_hil.instruments.controller.types.ChipLimits` is one."""

    vpulse_max: float
    width_min: float
    width_max: float
    vread_min: float
    vread_max: float


def sent_volts(volts: float) -> float:
    """The voltage (V) the board receives for ``volts`` (millivolt resolution)."""
    return float(format_volts(volts))


def sent_seconds(seconds: float) -> float:
    """The time (s) the board receives for ``seconds`` (four significant digits)."""
    return float(format_seconds(seconds))


def checked_pulse(
    amplitude: float, width: float, bounds: BoardBounds, envelope: Any = None
) -> tuple[str, str]:
    """The wire forms of a pulse's ``amplitude`` (V, a magnitude) and ``width`` (s), once
    both the request and the wire forms lie within the board's limits and (given)
    ``envelope`` (``check_pulse(amplitude, width)`` raising SafetyViolation).

    Raises:
        SafetyViolation: naming the value and the limit it breaks; for a request inside
            whose wire form is not, both the request and what the wire would carry.
    """
    a_text, w_text = format_volts(amplitude), format_seconds(width)
    _pulse_limits(amplitude, width, bounds, envelope)
    sent_a, sent_w = float(a_text), float(w_text)
    if (sent_a, sent_w) != (amplitude, width):
        try:
            _pulse_limits(sent_a, sent_w, bounds, envelope)
        except SafetyViolation as exc:
            raise SafetyViolation(
                f"pulse {float(amplitude)!r} V, {float(width)!r} s goes on the wire as {a_text} V, "
                f"{w_text} s (millivolt and 4-digit resolution): {exc}"
            ) from None
    return a_text, w_text


def _pulse_limits(amplitude: float, width: float, bounds: BoardBounds, envelope: Any) -> None:
    if not (np.isfinite(amplitude) and 0 <= amplitude <= bounds.vpulse_max):
        raise SafetyViolation(f"pulse amplitude {amplitude} V outside 0..{bounds.vpulse_max} V")
    if not (np.isfinite(width) and bounds.width_min <= width <= bounds.width_max):
        raise SafetyViolation(
            f"pulse width {width} s outside {bounds.width_min}..{bounds.width_max} s"
        )
    if envelope is not None:
        envelope.check_pulse(amplitude, width)


def checked_reads(volts: np.ndarray, bounds: BoardBounds, envelope: Any = None) -> list[str]:
    """The wire forms of read voltages ``volts`` (V, one per input line), once both the
    request and the wire forms lie within the board's read limits and (given) ``envelope``
    (``check_read_voltages(volts)`` raising SafetyViolation).

    Raises:
        SafetyViolation: naming the voltage, its input line and the limit it breaks.
    """
    v = np.asarray(volts, dtype=float).ravel()
    texts = [format_volts(x) for x in v] if np.all(np.isfinite(v)) else []
    _read_limits(v, bounds, envelope)
    sent = np.array([float(t) for t in texts])
    if not np.array_equal(sent, v):
        try:
            _read_limits(sent, bounds, envelope)
        except SafetyViolation as exc:
            i = int(np.flatnonzero(sent != v)[np.argmax(np.abs(sent[sent != v]))])
            raise SafetyViolation(
                f"read voltage {float(v[i])!r} V goes on the wire as {texts[i]} V (millivolt "
                f"resolution): {exc}"
            ) from None
    return texts


def _read_limits(v: np.ndarray, bounds: BoardBounds, envelope: Any) -> None:
    if not np.all(np.isfinite(v)):
        raise SafetyViolation("read voltages must be finite")
    bad = np.flatnonzero((v < bounds.vread_min) | (v > bounds.vread_max))
    if bad.size:
        i = int(bad[0])
        where = f" on input line {i}" if v.size > 1 else ""
        raise SafetyViolation(
            f"read voltage {v[i]} V{where} outside {bounds.vread_min}..{bounds.vread_max} V"
        )
    if envelope is not None:
        envelope.check_read_voltages(v)
