"""The IEEE 488.2 / SCPI status model and common commands of the virtual SCPI SMUs.

IEEE 488.2 common commands (2400 manual section 16, 2450 reference manual "Common commands",
B2900 SCPI reference "Common commands"): ``*ESE``/``*ESE?`` and ``*SRE``/``*SRE?`` (enable
registers, 0-255), ``*STB?`` (status byte: bit 0 measurement summary, bit 2 error available,
bit 3 questionable summary, bit 5 event summary = ``*ESR`` AND ``*ESE``, bit 7 operation
summary, bit 6 master summary = any other enabled by ``*SRE``), ``*OPT?``, ``*TST?`` (0 =
self-test passed), ``*SAV n``/``*RCL n`` (setups 0-4: every channel's settings; a recall
leaves the outputs off), ``*TRG``.

SCPI ``:STATus`` subsystem: ``:OPERation``, ``:QUEStionable``, ``:MEASurement`` each with
``[:EVENt]?`` (read and cleared), ``:CONDition?`` and ``:ENABle``; ``:STATus:PRESet`` (enable
registers to 0); ``:STATus:QUEue[:NEXT]?`` (the error queue, as ``:SYSTem:ERRor?``).
A dialect sets event bits with :meth:`StatusModel.raise_event` (e.g. the 2400's buffer-full
bit 9 of the measurement register).
"""

from __future__ import annotations

import copy
from typing import Any

from mtj_hil.sim.lab.smu.scpi import (
    Command,
    CommandTable,
    ScpiError,
    cmd,
    count,
    noargs,
    number,
    one,
)

__all__ = ["REGISTERS", "StatusModel"]

REGISTERS = ("OPER", "QUES", "MEAS")
_LONG = {"OPER": "OPERation", "QUES": "QUEStionable", "MEAS": "MEASurement"}
#: status byte bits each register summarises (measurement, questionable, operation)
_SUMMARY = {"MEAS": 1 << 0, "QUES": 1 << 3, "OPER": 1 << 7}


class StatusModel:
    """Mixin for :class:`~mtj_hil.sim.lab.smu.scpi.ScpiInstrument` subclasses."""

    OPTIONS = "0"  #: ``*OPT?`` reply (no options installed)
    SETUPS = 5  #: ``*SAV``/``*RCL`` memory locations 0..4

    def _init_status(self) -> None:
        self.ese = 0
        self.sre = 0
        self.events = dict.fromkeys(REGISTERS, 0)
        self.enables = dict.fromkeys(REGISTERS, 0)
        if not hasattr(self, "setups"):
            self.setups: dict[int, Any] = {}

    def raise_event(self, register: str, bit: int) -> None:
        """Set ``bit`` (a value, e.g. ``1 << 9``) in ``register``'s event register."""
        self.events[register] |= bit

    def condition(self, register: str) -> int:
        """The register's condition (dialects override; questionable: over temperature)."""
        if register == "QUES" and getattr(self, "over_temperature", False):
            return 1 << 4
        return 0

    def status_byte(self) -> int:
        stb = 0
        for reg, bit in _SUMMARY.items():
            if (self.events[reg] | self.condition(reg)) & self.enables[reg]:
                stb |= bit
        if self._errors:  # type: ignore[attr-defined]
            stb |= 1 << 2
        if self.esr & self.ese:  # type: ignore[attr-defined]
            stb |= 1 << 5
        if stb & self.sre & ~(1 << 6):
            stb |= 1 << 6
        return stb

    def status_common(self) -> dict[str, Command]:
        """``*ESE``, ``*SRE``, ``*STB``, ``*OPT``, ``*TST``, ``*SAV``, ``*RCL``, ``*TRG``."""

        def register(name: str) -> Command:
            def write(args: list[str]) -> None:
                setattr(self, name, round(number(one(args), 0, 255)))

            return Command(write, lambda a: noargs(a, str(getattr(self, name))))

        return {
            "*ESE": register("ese"),
            "*SRE": register("sre"),
            "*STB": Command(query=lambda a: noargs(a, str(self.status_byte()))),
            "*OPT": Command(query=lambda a: noargs(a, self.OPTIONS)),
            "*TST": Command(query=lambda a: noargs(a, "0")),
            "*SAV": Command(write=self._save),
            "*RCL": Command(write=self._recall),
            "*TRG": Command(write=lambda a: count(a, 0)),
        }

    def _slot(self, args: list[str]) -> int:
        return round(number(one(args), 0, self.SETUPS - 1))

    def _save(self, args: list[str]) -> None:
        slot = self._slot(args)
        self.setups[slot] = {n: copy.deepcopy(ch.state) for n, ch in self.channels.items()}  # type: ignore[attr-defined]

    def _recall(self, args: list[str]) -> None:
        slot = self._slot(args)
        if slot not in self.setups:
            raise ScpiError(-221, "Settings conflict; no setup saved there")
        for name, state in self.setups[slot].items():
            ch = self.channels[name]  # type: ignore[attr-defined]
            was_on = ch.state.output
            ch.state = copy.deepcopy(state)
            ch.state.output = False  # a recalled setup does not switch an output on
            if was_on:
                ch.record()

    def status_rows(self, registers: tuple[str, ...] = REGISTERS) -> CommandTable:
        """The ``:STATus`` rows for ``registers`` plus PRESet and QUEue."""
        rows = [
            cmd(":STATus:PRESet", write=self._status_preset),
            cmd(":STATus:QUEue[:NEXT]", query=self.query_error),  # type: ignore[attr-defined]
        ]
        for reg in registers:
            long = _LONG[reg]
            rows += [
                cmd(f":STATus:{long}[:EVENt]", query=lambda a, r=reg: noargs(a, str(self._read_event(r)))),
                cmd(f":STATus:{long}:CONDition", query=lambda a, r=reg: noargs(a, str(self.condition(r)))),
                cmd(f":STATus:{long}:ENABle", write=lambda a, r=reg: self._enable(r, a),
                    query=lambda a, r=reg: noargs(a, str(self.enables[r]))),
            ]  # fmt: skip
        return rows

    def _read_event(self, register: str) -> int:
        value, self.events[register] = self.events[register] | self.condition(register), 0
        return value

    def _enable(self, register: str, args: list[str]) -> None:
        self.enables[register] = round(number(one(args), 0, 65535))

    def _status_preset(self, args: list[str]) -> None:
        count(args, 0)
        self.enables = dict.fromkeys(REGISTERS, 0)
