"""Reading buffer (``:TRACe``), buffer statistics (``:CALCulate3``) and front-panel display of
the virtual Keithley 2400 (2400 Series User's Manual 2400S-900-01, section 18 "TRACe
subsystem", "CALCulate3", "DISPlay subsystem"; section 16 "Status structure").

``:TRACe:POINts`` 1..2500 (*RST 100), ``:TRACe:FEED SENSe|CALCulate1|CALCulate2``,
``:TRACe:FEED:CONTrol NEXT|NEVer``: with NEXT every measured point is stored until the buffer
is full, then control returns to NEVer and bit 9 (BFL, buffer full) of the measurement event
register is set; ``:TRACe:CLEar``, ``:TRACe:POINts:ACTual?``, ``:TRACe:DATA?`` (the stored
points in the ``:FORMat:ELEMents`` of the instrument). ``:CALCulate3:FORMat MEAN|SDEViation|
MAXimum|MINimum|PKPK`` and ``:CALCulate3:DATA?`` (the statistic of the buffer for voltage,
current and resistance). ``:DISPlay:ENABle``, ``:DISPlay[:WINDow1]:TEXT:DATA``/``:STATe``,
``:DISPlay:DIGits`` are stored.
"""

from __future__ import annotations

import statistics
from typing import Any

from mtj_hil.sim.lab.smu.core import Point
from mtj_hil.sim.lab.smu.scpi import (
    CommandTable,
    ScpiError,
    as_bool,
    as_number,
    choice,
    cmd,
    count,
    fmt,
    noargs,
    number,
    one,
    unquote,
)

__all__ = ["Trace2400"]

BUFFER_FULL = 1 << 9  #: measurement event register bit 9, BFL


class Trace2400:
    """Mixin of the virtual 2400 (uses its ``_format``/``_values``, ``raise_event``)."""

    def _init_trace(self) -> None:
        self.trace: list[Point] = []
        self.trace_points = 100
        self.feed = "SENS"
        self.feed_control = "NEV"
        self.calc3 = "MEAN"

    def feed_trace(self, points: list[Point]) -> None:
        """Store measured points while the feed control is NEXT (see the module docstring)."""
        if self.feed_control != "NEXT":
            return
        room = self.trace_points - len(self.trace)
        self.trace.extend(points[:room])
        if len(self.trace) >= self.trace_points:
            self.feed_control = "NEV"
            self.raise_event("MEAS", BUFFER_FULL)  # type: ignore[attr-defined]

    def trace_rows(self) -> CommandTable:
        S = self.stored  # type: ignore[attr-defined]  # noqa: N806
        return [
            cmd(":TRACe:CLEar", write=self._trace_clear),
            cmd(":TRACe:POINts", write=self._trace_size, query=lambda a: noargs(a, str(self.trace_points))),
            cmd(":TRACe:POINts:ACTual", query=lambda a: noargs(a, str(len(self.trace)))),
            cmd(":TRACe:FEED", write=self._set_feed, query=lambda a: noargs(a, self.feed)),
            cmd(":TRACe:FEED:CONTrol", write=self._set_feed_control, query=lambda a: noargs(a, self.feed_control)),
            cmd(":TRACe:DATA", query=self._trace_data),
            cmd(":CALCulate3:FORMat", write=self._set_calc3, query=lambda a: noargs(a, self.calc3)),
            cmd(":CALCulate3:DATA", query=self._calc3_data),
            S(":DISPlay:ENABle", "display", "1", as_bool),
            S(":DISPlay[:WINDow1]:TEXT:DATA", "display_text", '""', lambda a: f'"{unquote(a)}"'),
            S(":DISPlay[:WINDow1]:TEXT:STATe", "display_text_on", "0", as_bool),
            S(":DISPlay:DIGits", "digits", "6", lambda a: str(round(float(as_number(4, 7)(a))))),
        ]  # fmt: skip

    def _trace_clear(self, args: list[str]) -> None:
        count(args, 0)
        self.trace = []

    def _trace_size(self, args: list[str]) -> None:
        self.trace_points = round(number(one(args), 1, 2500, 100))

    def _set_feed(self, args: list[str]) -> None:
        self.feed = choice(one(args), ("SENSe", "CALCulate1", "CALCulate2"))

    def _set_feed_control(self, args: list[str]) -> None:
        self.feed_control = choice(one(args), ("NEXT", "NEVer"))

    def _trace_data(self, args: list[str]) -> str:
        count(args, 0)
        if not self.trace:
            raise ScpiError(-230)
        return self._format(self.trace)  # type: ignore[attr-defined,no-any-return]

    def _set_calc3(self, args: list[str]) -> None:
        self.calc3 = choice(one(args), ("MEAN", "SDEViation", "MAXimum", "MINimum", "PKPK"))

    def _calc3_data(self, args: list[str]) -> str:
        count(args, 0)
        if not self.trace:
            raise ScpiError(-230)
        values: dict[str, list[float]] = {"VOLT": [], "CURR": [], "RES": []}
        for point in self.trace:
            row: dict[str, Any] = self._values(point)  # type: ignore[attr-defined]
            for key in values:
                values[key].append(row[key])
        stat = {
            "MEAN": statistics.fmean,
            "SDEV": lambda v: statistics.stdev(v) if len(v) > 1 else 0.0,
            "MAX": max,
            "MIN": min,
            "PKPK": lambda v: max(v) - min(v),
        }[self.calc3]
        elements = self.st.extra["elements"]  # type: ignore[attr-defined]
        return ",".join(fmt(stat(values[e])) for e in ("VOLT", "CURR", "RES") if e in elements)
