"""TSP objects shared by the virtual 2600: value checks, reading buffers, ``format``.

Per the *Series 2600B Reference Manual*: ``smuX.nvbufferY`` attributes and ``format.data``/
``asciiprecision``/``byteorder``. Out-of-range settings raise 1101 "Parameter too big" /
1102 "Parameter too small" (Series 2600 reference manual, error list and ``smuX.source.limitY``:
"a limit value of 0 ... parameter too small", error 1102).
"""

from __future__ import annotations

import math
import struct
from collections.abc import Callable
from typing import Any

from mtj_hil.sim.lab.smu.tsp import TspError, TspFunction, TspObject

__all__ = ["ASCII", "REAL32", "REAL64", "Buffer", "Column", "Format", "Obj", "choice", "num"]

ASCII, REAL32, REAL64 = 1.0, 2.0, 3.0
BIG, LITTLE = 0.0, 1.0


#: Series 2600 error codes of a setting out of its range (code, message).
TOO_BIG = (1101, "Parameter too big")
TOO_SMALL = (1102, "Parameter too small")


def num(value: Any, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or math.isnan(value):
        raise TspError(-286, "TSP Runtime error at line 1: bad argument (number expected)")
    if value > hi:
        raise TspError(*TOO_BIG)
    if value < lo:
        raise TspError(*TOO_SMALL)
    return float(value)


def choice(value: Any, options: tuple[float, ...]) -> float:
    if isinstance(value, bool) or value not in options:
        raise TspError(*TOO_BIG)
    return float(value)


class Obj(TspObject):
    """Attribute helpers bound to a channel's state."""

    def const(self, **values: Any) -> None:
        for key, value in values.items():
            self.attrs[key] = (lambda v=value: v), None

    def fn(self, name: str, call: Callable[..., Any]) -> None:
        func = TspFunction(call, name)
        self.attrs[name] = (lambda: func), None

    def field(self, name: str, get: Callable[[], Any], put: Callable[[Any], None] | None) -> None:
        self.attrs[name] = get, put


class Buffer(Obj):
    """``smuX.nvbufferY``: readings with source values, statuses and timestamps."""

    def __init__(self, name: str) -> None:
        super().__init__(name)
        self.points: list[tuple[float, float, float, float]] = []  # reading, source, status, t
        self.collect_source = 0.0
        self.collect_time = 1.0
        self.fn("clear", lambda *a: self.points.clear())
        self.fn("clearcache", lambda *a: None)  # bufferVar.clearcache(): no cache modelled
        self.field("n", lambda: float(len(self.points)), None)
        self.field("capacity", lambda: 60000.0, None)
        self.field("collectsourcevalues", lambda: self.collect_source, self._set_cs)
        self.field("collecttimestamps", lambda: self.collect_time, self._set_ct)
        self.field("appendmode", lambda: 0.0, lambda v: None)
        for attr, k in (("readings", 0), ("sourcevalues", 1), ("statuses", 2), ("timestamps", 3)):
            self.field(attr, (lambda k=k, attr=attr: Column(f"{name}.{attr}", self, k)), None)

    def _set_cs(self, value: Any) -> None:
        self.collect_source = choice(value, (0.0, 1.0))

    def _set_ct(self, value: Any) -> None:
        self.collect_time = choice(value, (0.0, 1.0))

    def index(self, key: Any) -> Any:
        return Column(self.name, self, 0).index(key)

    def column(self, k: int) -> list[float]:
        if k == 1 and not self.collect_source:
            return [math.nan] * len(self.points)
        return [p[k] for p in self.points]


class Column(TspObject):
    def __init__(self, name: str, buffer: Buffer, k: int) -> None:
        super().__init__(name)
        self.buffer = buffer
        self.k = k

    def index(self, key: Any) -> Any:
        values = self.buffer.column(self.k)
        i = int(key) if isinstance(key, int | float) else 0
        return values[i - 1] if 1 <= i <= len(values) else None


class Format(Obj):
    def __init__(self) -> None:
        super().__init__("format")
        self.reset()
        self.const(ASCII=ASCII, SREAL=REAL32, REAL32=REAL32, REAL=REAL64, REAL64=REAL64,
                   NORMAL=BIG, BIGENDIAN=BIG, NETWORK=BIG, SWAPPED=LITTLE, LITTLEENDIAN=LITTLE)  # fmt: skip
        self.field("data", lambda: self.data, self._set_data)
        self.field("asciiprecision", lambda: self.precision, self._set_precision)
        self.field("byteorder", lambda: self.order, self._set_order)

    def reset(self) -> None:
        self.data, self.precision, self.order = ASCII, 6.0, LITTLE

    def _set_data(self, value: Any) -> None:
        self.data = choice(value, (ASCII, REAL32, REAL64))

    def _set_precision(self, value: Any) -> None:
        self.precision = float(int(num(value, 0, 16)))

    def _set_order(self, value: Any) -> None:
        self.order = choice(value, (BIG, LITTLE))

    def number(self, value: float) -> str:
        if self.data == ASCII:
            digits = int(self.precision) or 14
            return f"{value:.{digits - 1}e}"
        code = ("<" if self.order == LITTLE else ">") + ("f" if self.data == REAL32 else "d")
        return struct.pack(code, value).decode("latin-1")
