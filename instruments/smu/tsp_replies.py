"""Reply parsing and model tables the Keithley 26xx TSP driver uses (no wire traffic).

Series 2600B Reference Manual (2600BS-901-01): ``print()`` of a boolean is ``true``/``false``,
``errorqueue.next()`` prints code, message, severity and node separated by tabs, and the
source voltage ranges differ by model family (``smuX.source.rangev``).
"""

from __future__ import annotations

import re

from mtj_hil.instruments.errors import InstrumentError

__all__ = ["CURRENT_RANGES", "SOURCE_RANGES", "parse_tsp_error", "source_ranges_for"]


def parse_bool(reply: str) -> bool:
    text = reply.strip().lower()
    if text == "true":
        return True
    if text == "false":
        return False
    raise InstrumentError(f"expected true/false from TSP, got {reply!r}")


def parse_tsp_error(reply: str) -> tuple[int, str]:
    """Parse ``print(errorqueue.next())``: code, message, severity, node separated by tabs."""
    fields = reply.strip("\r\n").split("\t")
    try:
        code = int(float(fields[0]))
    except ValueError as exc:
        raise InstrumentError(f"unparseable TSP error-queue reply {reply!r}") from exc
    message = fields[1].strip() if len(fields) > 1 else ""
    return code, message


#: Source voltage ranges by model family (V), keyed by the model number's first three digits.
SOURCE_RANGES = {
    "260": (0.1, 1.0, 6.0, 40.0),
    "261": (0.2, 2.0, 20.0, 200.0),
    "263": (0.2, 2.0, 20.0, 200.0),
}
CURRENT_RANGES = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 1.5, 3.0)  #: A (2602B)


def source_ranges_for(idn: str) -> tuple[float, ...] | None:
    """The source voltage ranges of the model named in ``*IDN?``, or ``None`` if unknown."""
    match = re.search(r"MODEL\s*(26\d)\d", idn.upper())
    return SOURCE_RANGES.get(match.group(1)) if match else None


def tsp_number(reply: str) -> float:
    try:
        return float(reply.strip())
    except ValueError as exc:
        raise InstrumentError(f"expected a number from TSP print(), got {reply!r}") from exc


def tsp_output_state(reply: str, what: str) -> bool:
    """``print(smuX.source.output)``: 0 (off; also what an output switched to high-Z off reads)
    or 1 (on) (*Series 2600B Reference Manual* 2600BS-901-01, section 9,
    ``smuX.source.output``). Anything else says nothing about the output.

    Raises:
        InstrumentError: the reply is not 0 or 1 (the message names ``what``).
    """
    try:
        value = float(reply.strip())
    except ValueError:
        value = float("nan")
    if value in (0.0, 1.0):
        return value == 1.0
    raise InstrumentError(f"{what}: output state reply {reply!r} is neither 0 nor 1")
