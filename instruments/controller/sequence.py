"""Board-side sequences (firmware 1.3, docs/chip-protocol.md section 10): the step codec,
the result frames and the checks, shared by the host driver and the virtual board. No I/O.

A sequence is a list of steps the board runs on its selected array without a host round
trip per step; every scan streams back as one ``DAT`` frame. Steps (one token each, fields
separated by ``:``):

* :class:`Enable` ``E:<rows>:<cols>`` - enable lines (as ``EN``);
* :class:`Range` ``R:<full_scale>`` - converter range (as ``ARNG``);
* :class:`PulseStep` ``P:<POS|NEG>:<amplitude>:<width>`` - one pulse on the enabled cells;
* :class:`Scan` ``S:<v>`` - one-hot scan of the enabled input lines at ``v`` (as ``SCAN``);
* :class:`Known` ``K:<v>:<bits>`` - the host's latest view of which cells read high at ``v``;
* :class:`WriteVerify` ``W:<POS|NEG>:<width>:<v>:<H|L>:<a1>,<a2>,..:<thresholds>`` - up to
  one round per amplitude: while an enabled cell reads on the wrong side of its output
  line's threshold code, pulse every enabled cell and scan at ``v`` (``V:`` the same with
  decision scans); an amplitude written ``<a>/<w>`` pulses that round ``w`` s wide instead
  of ``<width>``; ``<thresholds>`` ``T`` (firmware 1.4): each cell against its own code in
  the board's threshold map (``SEQ MAP``, section 10.7);
* :class:`Integration` ``I:<seconds>`` - converter integration time of the following
  conversions of the run;
* :class:`Decide` ``D:<v>:<thresholds>`` - a scan that returns one bit per cell (its code
  above its line's threshold code, or with ``T`` its own code in the map) instead of the
  codes;
* :class:`CheckMask` ``M:<bits>`` - the cells the following write-verify steps check (the
  others are pulsed with them but never keep a write-verify going).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import numpy as np

from mtj_hil.instruments.controller.codec import (
    ADC_RANGES,
    MAX_FRAME_BYTES,
    FrameError,
    decode_codes,
    encode_codes,
    format_mask,
    format_seconds,
    format_volts,
    mask_width,
    parse_mask,
    parse_seconds,
    parse_volts,
)
from mtj_hil.instruments.controller.seq_frames import (
    SeqResult,
    dat_fields,
    decision_fields,
    parse_dat,
)
from mtj_hil.instruments.controller.wire import checked_pulse, checked_reads
from mtj_hil.instruments.errors import SafetyViolation

__all__ = [
    "Enable",
    "Known",
    "PulseStep",
    "Range",
    "Scan",
    "SeqResult",
    "SequenceRefused",
    "Step",
    "WriteVerify",
    "CheckMask",
    "Decide",
    "Integration",
    "check_lines",
    "check_steps",
    "decision_fields",
    "decode_step",
    "encode_step",
    "parse_dat",
    "dat_fields",
    "RUN_PREFIX_STEPS",
    "MIN_SEQUENCE_STEPS",
    "MAP_FIRMWARE",
    "MAP_TOKEN",
    "first_map_step",
]

SEQ_FIRMWARE = (1, 3)
"""First firmware version with sequences."""
MAP_FIRMWARE = (1, 4)
"""First firmware version with a per-cell threshold map (``SEQ MAP``, ``T`` thresholds)."""
MAP_TOKEN = "T"
"""The ``<thresholds>`` field of a step that compares each cell with the threshold map."""
RUN_PREFIX_STEPS = 6
"""Set-up steps a host's run may begin with (``E``, ``R``, ``I``, ``M``, ``K``s; section 10.2)."""
MIN_SEQUENCE_STEPS = RUN_PREFIX_STEPS + 1
"""The smallest sequence buffer (``IDN seq``) a run fits in: its set-up and one step."""


@dataclass(frozen=True)
class Enable:
    rows: tuple[int, ...]
    cols: tuple[int, ...]


@dataclass(frozen=True)
class Range:
    full_scale: float


@dataclass(frozen=True)
class PulseStep:
    polarity: str
    amplitude: float
    width: float


@dataclass(frozen=True)
class Scan:
    volts: float


@dataclass(frozen=True)
class Known:
    """Cells (row-major, enabled rows x all columns) the host last saw reading high at
    ``volts``: the first check of a later :class:`WriteVerify` at that voltage uses it."""

    volts: float
    high: tuple[bool, ...]


@dataclass(frozen=True)
class WriteVerify:
    """``high``: the target reads above threshold (code > threshold code of its line, or
    with ``thresholds`` None of the cell in the board's threshold map); ``decide``: its scans
    are decisions (bits frames, ``V`` token); ``widths``: the pulse width (s) of each round
    where it differs from ``width`` (None: every round ``width``)."""

    polarity: str
    width: float
    volts: float
    high: bool
    amplitudes: tuple[float, ...]
    thresholds: tuple[int, ...] | None
    decide: bool = False
    widths: tuple[float, ...] | None = None

    def round_widths(self) -> tuple[float, ...]:
        """The pulse width (s) of every round.

        Raises:
            ValueError: ``widths`` does not give one width per amplitude.
        """
        if self.widths is None:
            return (self.width,) * len(self.amplitudes)
        if len(self.widths) != len(self.amplitudes):
            raise ValueError(
                f"W step has {len(self.amplitudes)} amplitudes but {len(self.widths)} widths"
            )
        return tuple(self.widths)


@dataclass(frozen=True)
class Integration:
    """Converter integration time (s) of the run's following conversions."""

    seconds: float


@dataclass(frozen=True)
class Decide:
    """A scan at ``volts`` whose frame carries one bit per cell: code above its output
    line's threshold code (``thresholds`` None: above the cell's code in the board's
    threshold map)."""

    volts: float
    thresholds: tuple[int, ...] | None


@dataclass(frozen=True)
class CheckMask:
    """Cells (row-major ``rows * cols`` bits) the run's write-verify steps check."""

    cells: tuple[bool, ...]


STEP_TOKEN_MAX = MAX_FRAME_BYTES - len("SEQ FF ADD  *FF\n")
"""Longest step token (bytes) one ``SEQ ADD`` frame can carry (with its blank)."""

INTEGRATION_RANGE = (1e-5, 0.1)
"""Integration times (s) an ``I`` step may set."""

Step = Enable | Range | PulseStep | Scan | Known | WriteVerify | Integration | Decide | CheckMask


def encode_step(step: Step, rows: int, cols: int, bits: int = 12) -> str:
    """One step as its token (see the module docstring).

    Raises:
        ValueError: a value the token cannot carry (line index, code, polarity).
    """
    if isinstance(step, Enable):
        return f"E:{format_mask(step.rows, rows)}:{format_mask(step.cols, cols)}"
    if isinstance(step, Range):
        return f"R:{format_seconds(step.full_scale)}"
    if isinstance(step, PulseStep):
        _polarity(step.polarity)
        return f"P:{step.polarity}:{format_volts(step.amplitude)}:{format_seconds(step.width)}"
    if isinstance(step, Scan):
        return f"S:{format_volts(step.volts)}"
    if isinstance(step, Known):
        bits_hex = format_mask([i for i, h in enumerate(step.high) if h], len(step.high))
        return f"K:{format_volts(step.volts)}:{bits_hex}"
    if isinstance(step, WriteVerify):
        _polarity(step.polarity)
        thresholds = _thresholds_token("W", step.thresholds, cols, bits)
        width = format_seconds(step.width)
        amps = ",".join(
            format_volts(a) + ("" if format_seconds(w) == width else f"/{format_seconds(w)}")
            for a, w in zip(step.amplitudes, step.round_widths(), strict=True)
        )
        return (
            f"{'V' if step.decide else 'W'}:{step.polarity}:{width}:"
            f"{format_volts(step.volts)}:{'H' if step.high else 'L'}:{amps}:{thresholds}"
        )
    if isinstance(step, Integration):
        return f"I:{format_seconds(step.seconds)}"
    if isinstance(step, CheckMask):
        return f"M:{format_mask([i for i, c in enumerate(step.cells) if c], len(step.cells))}"
    if isinstance(step, Decide):
        thresholds = _thresholds_token("D", step.thresholds, cols, bits)
        return f"D:{format_volts(step.volts)}:{thresholds}"
    raise ValueError(f"not a sequence step: {step!r}")


def _thresholds_token(kind: str, codes: tuple[int, ...] | None, cols: int, bits: int) -> str:
    """A step's ``<thresholds>`` field: one code per output line, or ``T`` (the map).

    Raises:
        ValueError: not one code per output line.
    """
    if codes is None:
        return MAP_TOKEN
    if len(codes) != cols:
        raise ValueError(f"{kind} step needs {cols} threshold codes, got {len(codes)}")
    return encode_codes(codes, bits)


def _thresholds_field(text: str, cols: int, bits: int) -> tuple[int, ...] | None:
    """Parse a ``<thresholds>`` field (``T``: the threshold map, None).

    Raises:
        FrameError: neither ``T`` nor one code per output line (E03).
    """
    if text == MAP_TOKEN:
        return None
    return tuple(int(c) for c in decode_codes(text, cols, bits))


def decode_step(token: str, rows: int, cols: int, bits: int = 12) -> Step:
    """Parse one step token (the board's side; ``Known`` needs the enabled-row count only
    at run time, so any bit count up to ``rows * cols`` is accepted here).

    Raises:
        FrameError: the token breaks the step grammar (the board answers E03).
        ValueError: a line index, range or count outside the geometry (E04).
    """
    kind, _, rest = token.partition(":")
    fields = rest.split(":") if rest else []
    need = {"E": 2, "R": 1, "P": 3, "S": 1, "K": 2, "W": 6, "V": 6, "I": 1, "D": 2, "M": 1}.get(
        kind
    )
    if need is None:
        raise FrameError(f"unknown step kind {kind!r} in {token!r}")
    if len(fields) != need:
        raise FrameError(f"step {kind} takes {need} fields, got {len(fields)} in {token!r}")
    if kind == "E":
        r_mask, c_mask = _step_mask(fields[0], rows), _step_mask(fields[1], cols)
        return Enable(
            tuple(np.flatnonzero(r_mask).tolist()), tuple(np.flatnonzero(c_mask).tolist())
        )
    if kind == "R":
        fs = parse_seconds(fields[0])
        if not any(math.isclose(fs, r, rel_tol=1e-3) for r in ADC_RANGES):
            raise ValueError(f"converter range {fields[0]} A not available")
        return Range(fs)
    if kind == "P":
        return PulseStep(_polarity(fields[0]), parse_volts(fields[1]), parse_seconds(fields[2]))
    if kind == "S":
        return Scan(parse_volts(fields[0]))
    if kind == "K":
        cells = _step_mask(fields[1], rows * cols)
        return Known(parse_volts(fields[0]), tuple(bool(c) for c in cells))
    if kind == "M":
        return CheckMask(tuple(bool(c) for c in _step_mask(fields[0], rows * cols)))
    if kind == "I":
        seconds = parse_seconds(fields[0])
        lo, hi = INTEGRATION_RANGE
        if not lo * (1 - 1e-3) <= seconds <= hi * (1 + 1e-3):
            raise ValueError(f"integration {fields[0]} s outside {lo:g}..{hi:g} s")
        return Integration(seconds)
    if kind == "D":
        return Decide(parse_volts(fields[0]), _thresholds_field(fields[1], cols, bits))
    pol, width, volts, side, amps, thr = fields
    if side not in ("H", "L"):
        raise FrameError(f"W step side must be H or L, got {side!r}")
    step_width = parse_seconds(width)
    rounds = [a.split("/") for a in amps.split(",")]
    if any(len(r) > 2 for r in rounds):
        raise FrameError(f"W step amplitude must be <a> or <a>/<width>, got {amps!r}")
    amplitudes = tuple(parse_volts(r[0]) for r in rounds)
    widths = tuple(step_width if len(r) == 1 else parse_seconds(r[1]) for r in rounds)
    thresholds = _thresholds_field(thr, cols, bits)
    return WriteVerify(
        _polarity(pol),
        step_width,
        parse_volts(volts),
        side == "H",
        amplitudes,
        thresholds,
        decide=kind == "V",
        widths=None if all(w == step_width for w in widths) else widths,
    )


def first_map_step(steps: list[Step]) -> int | None:
    """Index of the first step of ``steps`` that compares cells with the board's threshold
    map (``T`` thresholds), or None when none does."""
    return next(
        (
            i
            for i, s in enumerate(steps)
            if isinstance(s, WriteVerify | Decide) and s.thresholds is None
        ),
        None,
    )


def _step_mask(text: str, n: int) -> np.ndarray:
    """A step's line or cell mask over ``n`` bits.

    Raises:
        FrameError: not a mask of ``n`` bits as written (E03). ValueError: a well-formed
            mask with a bit set beyond the geometry, a line the board does not have (E04).
    """
    try:
        return parse_mask(text, n)
    except FrameError as exc:
        if re.fullmatch(rf"[0-9A-F]{{{mask_width(n)}}}", text):
            raise ValueError(str(exc)) from None
        raise


def _polarity(text: str) -> str:
    if text not in ("POS", "NEG"):
        raise FrameError(f"polarity must be POS or NEG, got {text!r}")
    return text


def check_steps(
    steps: list[Step],
    *,
    vpulse_max: float,
    width_min: float,
    width_max: float,
    vread_min: float,
    vread_max: float,
    envelope: object | None = None,
    geometry: tuple[int, int, int] | None = None,
) -> None:
    """Check every step of a whole sequence against the board's limits and (given) the
    station's safety envelope (``check_pulse`` / ``check_read_voltages``) before anything
    is sent, each value as asked and as its step's token carries it (millivolts, four
    significant digits: :mod:`~mtj_hil.instruments.controller.wire`), naming the first step
    that would leave them. Given ``geometry`` (rows, cols,
    converter bits), every step must also be one the board accepts as it is written: line
    indices, bit maps of ``rows * cols`` cells, threshold codes, converter ranges and
    integration times (the board's own step parser, so it refuses nothing the host let by).

    Raises:
        SequenceRefused: ``step <i> (<step kind>): <reason>``; nothing is sent.
    """
    bounds = _Bounds(vpulse_max, width_min, width_max, vread_min, vread_max)
    for i, step in enumerate(steps):
        pulses: list[tuple[float, float]] = []
        reads: list[float] = []
        if isinstance(step, PulseStep):
            pulses = [(step.amplitude, step.width)]
        elif isinstance(step, WriteVerify):
            reads = [step.volts]
            if not step.amplitudes:
                raise SequenceRefused(i, step, "no amplitude given")
            try:
                pulses = list(zip(step.amplitudes, step.round_widths(), strict=True))
            except ValueError as exc:
                raise SequenceRefused(i, step, str(exc)) from None
            if step.widths is not None:  # the step's own width goes on the wire too
                pulses.append((step.amplitudes[0], step.width))
        elif isinstance(step, Scan | Known | Decide):
            reads = [step.volts]
        try:
            for amp, width in pulses:
                checked_pulse(amp, width, bounds, envelope)
            for v in reads:
                checked_reads(np.array([v]), bounds, envelope)
        except SafetyViolation as exc:
            raise SequenceRefused(i, step, str(exc)) from None
        except (TypeError, ValueError) as exc:  # a value that is no number: "1.0", None
            raise SequenceRefused(i, step, f"a value that is not a number: {exc}") from None
        if geometry is not None:
            _check_token(i, step, *geometry)


def check_lines(steps: list[Step], enabled_rows: int | None = None) -> None:
    """Refuse a step that needs enabled lines where the run's ``E`` steps leave none: the
    board would stop the run there (E06), after applying the steps before it. A pulse
    needs an input and an output line, a scan, decision or write-verify an input line.
    ``enabled_rows``: input lines enabled before the first step (``None``: unknown).

    Raises:
        SequenceRefused: naming the first such step; nothing is sent.
    """
    rows, cols = enabled_rows, None
    for i, step in enumerate(steps):
        if isinstance(step, Enable):
            rows, cols = len(step.rows), len(step.cols)
        elif isinstance(step, PulseStep) and 0 in (rows, cols):
            raise SequenceRefused(i, step, "a pulse with no input or no output line enabled")
        elif isinstance(step, Scan | Decide | WriteVerify) and rows == 0:
            raise SequenceRefused(i, step, "no input line is enabled to scan")


@dataclass(frozen=True)
class _Bounds:
    vpulse_max: float
    width_min: float
    width_max: float
    vread_min: float
    vread_max: float


class SequenceRefused(SafetyViolation):
    """A sequence refused before upload: ``index`` is the first step at fault, ``reason``
    what is wrong with it."""

    def __init__(self, index: int, step: object, reason: str) -> None:
        super().__init__(
            f"sequence refused before upload: step {index} ({type(step).__name__}): {reason}"
        )
        self.index = index
        self.reason = reason


def _check_token(i: int, step: object, rows: int, cols: int, bits: int) -> None:
    """Refuse a step the board would refuse as written (encoded, then parsed as the board
    parses it): a wrong line index, bit map, code count or code, range or integration."""
    try:
        decode_step(encode_step(step, rows, cols, bits), rows, cols, bits)  # type: ignore[arg-type]
        cells = getattr(step, "high", None) if isinstance(step, Known) else None
        cells = step.cells if isinstance(step, CheckMask) else cells
        if cells is not None and len(cells) != rows * cols:
            raise ValueError(f"needs one bit per cell ({rows} x {cols}), got {len(cells)}")
    except (FrameError, ValueError, TypeError) as exc:
        raise SequenceRefused(i, step, str(exc)) from None
