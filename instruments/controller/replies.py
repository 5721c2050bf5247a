"""Checks and decoding of the controller board's replies (docs/chip-protocol.md), no I/O.

Each function takes the reply fields after the echoed verb and either returns the decoded
value or raises: :class:`FrameError` for a malformed reply, :class:`ReplyMismatch` for a
well-formed reply that does not describe what was asked.
"""

from __future__ import annotations

import numpy as np

from mtj_hil.instruments.controller.codec import (
    _ERR_CODE,
    _HEX2,
    PULSE_AMPLITUDE_TOLERANCE_V,
    PULSE_WIDTH_TOLERANCE_S,
    SAFE_BIAS_V,
    FrameError,
    _parse_float,
    _parse_int,
    _require,
    decode_codes,
    format_seconds,
    format_volts,
    parse_fields,
    parse_mask,
    parse_seconds,
    parse_volts,
)
from mtj_hil.instruments.controller.types import (
    ChipIdentity,
    ChipLimits,
    ControllerStatus,
    Polarity,
    PulseReport,
    ReadResult,
    ReplyMismatch,
)

__all__ = [
    "check_pulse_reply",
    "check_scan_reply",
    "codes_result",
    "parse_identity",
    "parse_status",
]


#: Largest duration (s) the host believes of each ``LIM`` timing field. Every reply deadline
#: is built from them (docs/chip-protocol.md section 6: twice the board's own figures plus
#: 50 ms) and a transaction holds Ctrl-C until its deadline, so a board announcing hours
#: (a firmware fault, a board of another kind) would make a hung board unstoppable. The
#: reference board's values are milliseconds (``t_int`` one mains cycle, a sequence step's
#: integration at most 0.1 s), ``t_seqmax`` 30 s, below the 60 s host watchdog (9.4).
TIMING_BOUNDS_S = {
    "t_cmd": 1.0,
    "t_route": 1.0,
    "t_pulse": 1.0,
    "t_dac": 1.0,
    "t_read": 1.0,
    "t_int": 0.1,
    "t_step": 1.0,
    "t_seqmax": 60.0,
}


def _timing(lim: dict[str, str], key: str, port: str) -> float:
    """One ``LIM`` timing field, s, refused beyond :data:`TIMING_BOUNDS_S`."""
    value = parse_seconds(lim[key])
    if value > TIMING_BOUNDS_S[key]:
        raise FrameError(
            f"{port}: LIM {key}={lim[key]} s is beyond what any board of this protocol "
            f"takes (at most {TIMING_BOUNDS_S[key]:g} s; docs/chip-protocol.md section 6): "
            "a firmware fault or a board of another kind; the host would wait that long on "
            "each command"
        )
    return value


def parse_identity(
    idn_fields: tuple[str, ...], lim_fields: tuple[str, ...], port: str
) -> ChipIdentity:
    """Decode the ``IDN`` and ``LIM`` replies; voltage limits are clipped to ``SAFE_BIAS_V``.

    Raises:
        FrameError: a field missing or malformed, a nonsensical geometry, or a timing field
            beyond :data:`TIMING_BOUNDS_S`.
    """
    idn = parse_fields(idn_fields)
    model, sn, fw, die, arrays, rows, cols = _require(
        idn, "model", "sn", "fw", "die", "arrays", "rows", "cols"
    )
    lim = parse_fields(lim_fields)
    v = _require(lim, "vpulse_max", "width_min", "width_max", "vread_min", "vread_max", "adc_bits")
    _require(lim, "t_cmd", "t_route", "t_pulse", "t_dac", "t_read")
    t = [_timing(lim, key, port) for key in ("t_cmd", "t_route", "t_pulse", "t_dac", "t_read")]
    limits = ChipLimits(
        vpulse_max=min(parse_volts(v[0]), SAFE_BIAS_V),
        width_min=parse_seconds(v[1]),
        width_max=parse_seconds(v[2]),
        vread_min=max(parse_volts(v[3]), -SAFE_BIAS_V),
        vread_max=min(parse_volts(v[4]), SAFE_BIAS_V),
        adc_bits=_parse_int(v[5]),
        t_cmd=t[0],
        t_route=t[1],
        t_pulse=t[2],
        t_dac=t[3],
        t_read=t[4],
        t_int=_timing(lim, "t_int", port) if "t_int" in lim else 0.0,
        t_step=_timing(lim, "t_step", port) if "t_step" in lim else 0.0,
        t_seq_max=_timing(lim, "t_seqmax", port) if "t_seqmax" in lim else 0.0,
    )
    identity = ChipIdentity(
        model=model,
        serial=sn,
        firmware=fw,
        die=die,
        arrays=_parse_int(arrays),
        rows=_parse_int(rows),
        cols=_parse_int(cols),
        limits=limits,
        references=_parse_int(idn["refs"]) if "refs" in idn else 0,
        sequence_steps=_parse_int(idn["seq"]) if "seq" in idn else 0,
    )
    if min(identity.arrays, identity.rows, identity.cols) < 1:
        raise FrameError(f"{port}: nonsensical geometry in IDN: {idn}")
    return identity


def check_pulse_reply(
    fields: tuple[str, ...],
    asked: tuple[Polarity, float, float],
    expected_cells: int | None,
    port: str,
) -> PulseReport:
    """Decode a ``PULSE`` reply and check it describes the pulse asked for.

    ``asked`` is (polarity, amplitude V, width s); ``expected_cells`` the enabled cell count
    the host knows (``None``: unknown, not checked). The board quantises to its 10 ns
    timebase and its DAC step (protocol, PULSE): anything further from the request than that
    is not the pulse that was asked for.

    Raises:
        FrameError: malformed reply.
        ReplyMismatch: polarity, amplitude, width or cell count differ.
    """
    pol, amp, width = asked
    if len(fields) != 4:
        raise FrameError(f"{port}: malformed PULSE reply {fields}")
    (cells_text,) = _require(parse_fields(fields[3:]), "cells")
    report = PulseReport(
        amplitude_v=parse_volts(fields[1]),
        width_s=parse_seconds(fields[2]),
        polarity=fields[0],  # type: ignore[arg-type]
        cells=_parse_int(cells_text),
    )
    if (
        report.polarity != pol
        or abs(report.amplitude_v - amp) > PULSE_AMPLITUDE_TOLERANCE_V
        or abs(report.width_s - width) > PULSE_WIDTH_TOLERANCE_S + 1e-3 * width
        or (expected_cells is not None and report.cells != expected_cells)
    ):
        want_cells = "?" if expected_cells is None else str(expected_cells)
        text = " ".join((pol, format_volts(amp), format_seconds(width)))
        raise ReplyMismatch(
            f"{port}: PULSE asked {text} on {want_cells} cells, board "
            f"reports {' '.join(fields[:3])} on {report.cells} cells"
        )
    return report


def codes_result(fields: dict[str, str], n_vectors: int, ident: ChipIdentity) -> ReadResult:
    """Decode the ``lsb``/``zero``/``codes`` fields of a READ or SCAN reply into currents (A);
    codes of shape ``(cols,)`` for one vector, ``(n_vectors, cols)`` otherwise.

    Raises:
        FrameError: a field missing or the wrong number of codes.
    """
    bits = ident.limits.adc_bits
    lsb_t, zero_t, codes_t = _require(fields, "lsb", "zero", "codes")
    lsb = parse_seconds(lsb_t)  # same D.DDDe+DD format, unit A
    zero = _parse_int(zero_t)
    codes = decode_codes(codes_t, n_vectors * ident.cols, bits)
    if n_vectors > 1:
        codes = codes.reshape(n_vectors, ident.cols)
    full = (1 << bits) - 1
    return ReadResult(
        codes=codes,
        lsb_a=lsb,
        zero_code=zero,
        currents_a=(codes - zero).astype(np.float64) * lsb,
        saturated=(codes == 0) | (codes == full),
    )


def check_scan_reply(
    fields: dict[str, str], volts: float, enabled_rows: int | None, ident: ChipIdentity, port: str
) -> ReadResult:
    """Decode a ``SCAN`` reply: ``n`` vectors of ``cols`` codes, always 2-D ``(n, cols)``.

    Raises:
        FrameError: ``n`` outside ``1..rows`` or malformed codes.
        ReplyMismatch: ``n`` differs from the enabled input lines the host knows of.
    """
    (n_text,) = _require(fields, "n")
    n = _parse_int(n_text)
    if not 1 <= n <= ident.rows:
        raise FrameError(f"{port}: SCAN reply n={n} outside 1..{ident.rows}")
    if enabled_rows is not None and n != enabled_rows:
        raise ReplyMismatch(
            f"{port}: SCAN {format_volts(volts)} V asked for the {enabled_rows} "
            f"enabled input lines, board reports n={n}"
        )
    result = codes_result(fields, n, ident)
    if n == 1:
        return ReadResult(
            codes=result.codes[None, :],
            lsb_a=result.lsb_a,
            zero_code=result.zero_code,
            currents_a=result.currents_a[None, :],
            saturated=result.saturated[None, :],
        )
    return result


def parse_status(fields: tuple[str, ...], ident: ChipIdentity, port: str) -> ControllerStatus:
    """Decode a ``STAT`` reply.

    Raises:
        FrameError: a field missing or malformed.
    """
    f = parse_fields(fields)
    busy, err, arr, route, smu, src, rows, cols, temp, flags = _require(
        f, "busy", "err", "arr", "route", "smu", "src", "rows", "cols", "temp", "flags"
    )
    if busy not in ("0", "1") or not _ERR_CODE.fullmatch(err):
        raise FrameError(f"{port}: malformed STAT reply {f}")
    if not _HEX2.fullmatch(flags):
        raise FrameError(f"{port}: malformed STAT flags {flags!r}")
    return ControllerStatus(
        busy=busy == "1",
        last_error=err,
        array=None if arr == "--" else _parse_int(arr),
        route=route,
        smu_line=None if smu == "--" else _parse_int(smu),
        input_source=None if src == "--" else src,
        rows_mask=None if rows == "--" else parse_mask(rows, ident.rows),
        cols_mask=None if cols == "--" else parse_mask(cols, ident.cols),
        temperature_c=_parse_float(temp),
        flags=int(flags, 16),
    )
