"""Reading buffers of the virtual Keithley 2450 (reference manual 2450-901-01, section 6
``:TRACe`` subsystem): ``defbuffer1``/``defbuffer2`` and user buffers made with
``:TRACe:MAKE``, cleared, resized, deleted and read back."""

from __future__ import annotations

import statistics
from typing import Any

from mtj_hil.sim.lab.smu.core import Point
from mtj_hil.sim.lab.smu.scpi import ScpiError, number, one, unquote

__all__ = ["DEFAULT_BUFFERS", "Buffer2450", "BufferCommands"]

DEFAULT_BUFFERS = ("defbuffer1", "defbuffer2")


class Buffer2450:
    """A reading buffer: points and the source level each was taken at."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.points: list[tuple[Point, float, str]] = []

    def add(self, point: Point, source: float, function: str) -> None:
        self.points.append((point, source, function))
        if len(self.points) > self.size:
            del self.points[0]


class BufferCommands:
    """The ``:TRACe`` handlers (a mixin of the virtual 2450; ``buffers`` by name)."""

    buffers: dict[str, Buffer2450]

    def statistics_rows(self) -> list[Any]:
        """``:TRACe:STATistics:AVERage|STDDev|MINimum|MAXimum? ["buffer"]``: the statistic
        of the buffer's readings (reference manual section 6, TRACe subsystem)."""
        from mtj_hil.sim.lab.smu.scpi import cmd, fmt

        def stat(fn: Any) -> Any:
            def query(args: list[str]) -> str:
                values = [p.current for p, _s, _f in self._buffer(args).points]
                if not values:
                    raise ScpiError(-230)
                return fmt(fn(values))

            return query

        return [
            cmd(":TRACe:STATistics:AVERage", query=stat(statistics.fmean)),
            cmd(
                ":TRACe:STATistics:STDDev",
                query=stat(lambda v: statistics.stdev(v) if len(v) > 1 else 0.0),
            ),
            cmd(":TRACe:STATistics:MINimum", query=stat(min)),
            cmd(":TRACe:STATistics:MAXimum", query=stat(max)),
        ]

    def _buffer_named(self, name: str) -> Buffer2450:
        if name not in self.buffers:
            raise ScpiError(-224, f"Illegal parameter value; no buffer {name!r}")
        return self.buffers[name]

    def _buffer(self, args: list[str]) -> Buffer2450:
        if len(args) > 1:
            raise ScpiError(-108)
        return self._buffer_named(unquote(args[0]) if args else "defbuffer1")

    def _trace_clear(self, args: list[str]) -> None:
        self._buffer(args).points.clear()

    def _trace_points(self, args: list[str]) -> None:
        if not args:
            raise ScpiError(-109)
        size = round(number(args[0], 10, 11000000))
        self._buffer(args[1:]).size = size

    def _trace_make(self, args: list[str]) -> None:
        if len(args) < 2:
            raise ScpiError(-109)
        name = unquote(args[0])
        if name in self.buffers:
            raise ScpiError(-221, "Settings conflict; buffer exists")
        self.buffers[name] = Buffer2450(round(number(args[1], 10, 11000000)))

    def _trace_delete(self, args: list[str]) -> None:
        name = unquote(one(args))
        if name in DEFAULT_BUFFERS:
            raise ScpiError(-221, "Settings conflict; default buffers cannot be deleted")
        self._buffer_named(name)
        del self.buffers[name]
