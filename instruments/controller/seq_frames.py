"""Result frames of board-side sequences (docs/chip-protocol.md section 10.1): the ``DAT``
frame a scan or a decision streams back, as the board writes it and the host reads it. No I/O.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from mtj_hil.instruments.controller.codec import (
    ADC_RANGES,
    FrameError,
    _parse_int,
    _require,
    decode_codes,
    encode_codes,
    format_mask,
    parse_fields,
    parse_mask,
)

__all__ = ["SeqResult", "dat_fields", "decision_fields", "parse_dat"]


@dataclass(frozen=True)
class SeqResult:
    """One ``DAT`` frame: the scan made by step ``step`` (``round`` 0 for a scan step or
    the initial check of a write-verify, ``r >= 1`` for the scan after its ``r``-th pulse).

    A scan's frame has ``codes`` ``(n, cols)``, ``lsb`` per row (A; a row converted again on
    a larger range after saturating carries that range's step), ``currents`` ``(n, cols)``
    in A and ``saturated`` (at an end code on the largest range tried); a decision's frame
    has ``high`` ``(n, cols)`` instead (code above the line's threshold code).
    """

    index: int
    step: int
    round: int
    zero: int = 0
    codes: np.ndarray | None = None
    lsb: np.ndarray | None = None
    currents: np.ndarray | None = None
    saturated: np.ndarray | None = None
    high: np.ndarray | None = None


def dat_fields(
    index: int, step: int, rnd: int, zero: int, ranges: list[int], codes: np.ndarray, bits: int
) -> list[str]:
    """Board side: the fields of one ``DAT`` frame (``ranges``: index into ADC_RANGES of
    each scanned row)."""
    return [
        f"k={index}",
        f"step={step}",
        f"round={rnd}",
        f"zero={zero}",
        f"n={codes.shape[0]}",
        "rng=" + "".join(str(r) for r in ranges),
        f"codes={encode_codes(codes.ravel(), bits)}",
    ]


def decision_fields(index: int, step: int, rnd: int, high: np.ndarray) -> list[str]:
    """Board side: the fields of one decision ``DAT`` frame (``high`` ``(n, cols)``)."""
    flat = np.flatnonzero(high.ravel())
    return [
        f"k={index}",
        f"step={step}",
        f"round={rnd}",
        f"n={high.shape[0]}",
        f"bits={format_mask(flat.tolist(), high.size)}",
    ]


def parse_dat(args: tuple[str, ...], cols: int, bits: int) -> SeqResult:
    """Decode the fields of one ``DAT`` frame (a scan's codes or a decision's bits).

    Raises:
        FrameError: a field missing or malformed.
    """
    f = parse_fields(args)
    if "bits" in f:
        k, step, rnd, n_text, bits_text = _require(f, "k", "step", "round", "n", "bits")
        n = _parse_int(n_text)
        high = parse_mask(bits_text, n * cols).reshape(n, cols)
        return SeqResult(_parse_int(k), _parse_int(step), _parse_int(rnd), high=high)
    k, step, rnd, zero, n_text, rng, codes_text = _require(
        f, "k", "step", "round", "zero", "n", "rng", "codes"
    )
    n = _parse_int(n_text)
    if len(rng) != n or any(c not in "0123" for c in rng):
        raise FrameError(f"DAT rng={rng!r} does not give a range index per row of {n}")
    codes = decode_codes(codes_text, n * cols, bits).reshape(n, cols)
    lsb = np.array([2.0 * ADC_RANGES[int(c)] / (1 << bits) for c in rng])
    z = _parse_int(zero)
    full = (1 << bits) - 1
    return SeqResult(
        index=_parse_int(k),
        step=_parse_int(step),
        round=_parse_int(rnd),
        zero=z,
        codes=codes,
        lsb=lsb,
        currents=(codes - z).astype(float) * lsb[:, None],
        saturated=(codes == 0) | (codes == full),
    )
