"""Handlers the virtual SCPI SMUs (2400, 2450, B2900) share, on the addressed channel.

:class:`ScpiSmu` adds to :class:`~mtj_hil.sim.lab.smu.scpi.ScpiInstrument` the commands whose
meaning and errors are the same in every SCPI dialect modelled here: boolean settings, fixed
ranges, output relay, source function and mode, voltage level checks and the source list. A
dialect still builds its own command table (headers differ) and keeps its own handler wherever
its manual gives different limits, defaults, error order or error text.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from mtj_hil.sim.lab.smu.core import ChannelDefaults, range_for
from mtj_hil.sim.lab.smu.scpi import (
    Command,
    HeaderPattern,
    ScpiError,
    ScpiInstrument,
    boolean,
    choice,
    fmt_bool,
    noargs,
    number,
    one,
)
from mtj_hil.sim.lab.smu.scpi_status import StatusModel

__all__ = ["ScpiSmu"]


class ScpiSmu(StatusModel, ScpiInstrument):
    """A virtual SCPI SMU with the shared channel handlers (see the module docstring)."""

    #: source voltage bound, V, and most values a source list holds (each dialect sets them)
    VOLTAGE_LIMIT: float
    MAX_POINTS: int
    #: errors a previous user left queued ("stale-errors" start), in the standard SCPI wording
    STALE_ERRORS = (
        (-113, "Undefined header"),
        (-222, "Data out of range"),
        (-221, "Settings conflict"),
    )

    @property
    def st(self) -> ChannelDefaults:
        """State of the addressed channel :attr:`ch`."""
        return self.ch.state

    def set_flag(self, attr: str) -> Callable[[list[str]], None]:
        """Write handler for a boolean channel-state field ``attr``."""

        def write(args: list[str]) -> None:
            setattr(self.st, attr, boolean(one(args)))

        return write

    def get_flag(self, attr: str) -> Callable[[list[str]], str]:
        """Query handler for a boolean channel-state field ``attr`` (``1``/``0``)."""
        return lambda args: noargs(args, fmt_bool(getattr(self.st, attr)))

    def state_row(
        self, spec: str, attr: str, parse: Callable[[str], object], render: Callable[[object], str]
    ) -> tuple[HeaderPattern, Command]:
        """A row for a channel-state field ``attr`` that changes what the channel measures
        (terminals, sense, filter, REL, delays...): ``parse`` turns the parameter into the
        value, ``render`` the value into the query reply."""

        def write(args: list[str]) -> None:
            setattr(self.st, attr, parse(one(args)))

        def query(args: list[str]) -> str:
            return noargs(args, render(getattr(self.st, attr)))

        return HeaderPattern(spec), Command(write, query)

    def bool_row(self, spec: str, attr: str) -> tuple[HeaderPattern, Command]:
        """:meth:`state_row` for an ``ON|OFF|1|0`` field (query ``1``/``0``)."""
        return self.state_row(spec, attr, boolean, lambda v: fmt_bool(bool(v)))

    def set_extra_flag(self, key: str) -> Callable[[list[str]], None]:
        """Write handler for a boolean dialect setting ``st.extra[key]``."""

        def write(args: list[str]) -> None:
            self.st.extra[key] = boolean(one(args))

        return write

    def get_extra_flag(self, key: str) -> Callable[[list[str]], str]:
        """Query handler for a boolean dialect setting ``st.extra[key]`` (``1``/``0``)."""
        return lambda args: noargs(args, fmt_bool(self.st.extra[key]))

    def set_range(
        self, attr: str, ranges: Sequence[float], limit: float
    ) -> Callable[[list[str]], None]:
        """Write handler for a fixed range ``attr`` (``v_range``...): the parameter, within
        +-``limit`` (``DEFault`` = the largest range), picks the smallest of ``ranges`` holding
        it and turns ``<attr>_auto`` off."""

        def write(args: list[str]) -> None:
            value = number(one(args), -limit, limit, ranges[-1])
            setattr(self.st, attr, range_for(value, ranges))
            setattr(self.st, attr + "_auto", False)

        return write

    def set_output(self, args: list[str]) -> None:
        """``:OUTPut[:STATe] ON|OFF`` on the addressed channel (ON refused while an
        :meth:`output_block` holds: the output stays off)."""
        on = boolean(one(args))
        if on:
            self.refuse_blocked_output()
        self.st.output = on
        self.ch.record()

    def refuse_blocked_output(self) -> None:
        """Raise the error of an :meth:`output_block` holding now, if any.

        :raises ScpiError: the block's code and message."""
        block = self.output_block()
        if block is not None:
            raise ScpiError(*block)

    def set_function(self, args: list[str]) -> None:
        """``:SOURce:FUNCtion VOLTage|CURRent`` on the addressed channel."""
        self.st.source_function = choice(one(args), ("VOLTage", "CURRent"))
        self.ch.record()

    def checked_voltage(self, arg: str) -> float:
        """A voltage level parameter, V (``DEFault`` 0).

        :raises ScpiError: -222 beyond ``VOLTAGE_LIMIT`` or the interlock's limit.
        """
        value = number(arg, -self.VOLTAGE_LIMIT, self.VOLTAGE_LIMIT, 0.0)
        if not self.check_level(value, self.VOLTAGE_LIMIT):
            raise ScpiError(-222)
        return value

    def set_source_mode(self, args: list[str]) -> None:
        """``:SOURce:<f>:MODE FIXed|LIST`` (``SWEep``, staircase sweeps, is refused: -221)."""
        mode = choice(one(args), ("FIXed", "LIST", "SWEep"))
        if mode == "SWE":
            raise ScpiError(-221, "Settings conflict; staircase sweeps are not modelled")
        self.st.mode = mode

    def list_values(self, args: list[str]) -> list[float]:
        """The voltages, V, of a ``:SOURce:LIST:VOLTage`` parameter list.

        :raises ScpiError: -109 with none; -222 for a level :meth:`checked_voltage` refuses.
        """
        if not args:
            raise ScpiError(-109)
        return [self.checked_voltage(a) for a in args]

    def set_list(self, args: list[str]) -> None:
        """``:SOURce:LIST:VOLTage``: replace the source list (-223 beyond ``MAX_POINTS``)."""
        values = self.list_values(args)
        if len(values) > self.MAX_POINTS:
            raise ScpiError(-223)
        self.st.sweep = values

    def append_list(self, args: list[str]) -> None:
        """``:SOURce:LIST:VOLTage:APPend``: extend the list (-223 beyond ``MAX_POINTS``)."""
        values = self.list_values(args)
        if len(self.st.sweep) + len(values) > self.MAX_POINTS:
            raise ScpiError(-223)
        self.st.sweep.extend(values)
