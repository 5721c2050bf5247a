"""ARM and TRIGger layers and the reading buffer (TRACe) of the virtual Keysight B2900, per
channel (Keysight B2900 SCPI Command Reference: ARM, TRIGger and TRACe subsystems; see
:mod:`mtj_hil.sim.lab.smu.keysight_b2900` for what is modelled)."""

from __future__ import annotations

from collections.abc import Callable

from mtj_hil.sim.lab.smu.core import Point, SmuChannel
from mtj_hil.sim.lab.smu.scpi import (
    CommandTable,
    ScpiError,
    as_choice,
    as_number,
    choice,
    cmd,
    count,
    fmt,
    noargs,
    number,
    one,
)

__all__ = ["COUNT_INFINITY", "B2900Layers"]

#: ``INFinity`` as a count (B2900 SCPI reference, ARM/TRIGger ``:COUNt``)
COUNT_INFINITY = 2147483647

_ARM_ACTIONS = ("acq", "tran")

_ARM_SOURCES = ("AINT", "BUS", "TIMer", "INT1", "INT2", "LAN", "TIN") + tuple(
    f"EXT{k}" for k in range(1, 15)
)

#: per-action arm settings: (header node, key, *RST value as queried, parser)
_ARM_SETTINGS: tuple[tuple[str, str, str, Callable[[str], str]], ...] = (
    (":DELay", "delay", fmt(0.0), as_number(0.0, 1e5)),
    (":SOURce", "source", "AINT", as_choice(*_ARM_SOURCES)),
    (":BYPass", "bypass", "OFF", as_choice("OFF", "ONCE")),
)


class B2900Layers:
    """Mixin of the virtual B2900 (uses its ``st``, ``ch``, ``_format``)."""

    def _arm_commands(self) -> CommandTable:
        """The ARM layer rows: per setting an ACQuire and a TRANsient form (write and query)
        and the write-only ``[:ALL]`` form setting both (module docstring)."""
        rows = [
            cmd(":ARM[:ALL][:IMMediate]", write=lambda a: count(a, 0)),
            cmd(":ARM:ACQuire[:IMMediate]", write=lambda a: count(a, 0)),
            cmd(":ARM:TRANsient[:IMMediate]", write=lambda a: count(a, 0)),
        ]
        settings = [
            (":COUNt", "count", self._parse_count),
            *[(n, k, p) for n, k, _, p in _ARM_SETTINGS],
        ]
        for node, key, parse in settings:
            rows.append(cmd(f":ARM[:ALL]{node}", write=self._set_arm(key, parse, _ARM_ACTIONS)))
            for action, long in zip(_ARM_ACTIONS, ("ACQuire", "TRANsient"), strict=True):
                rows.append(
                    cmd(
                        f":ARM:{long}{node}",
                        write=self._set_arm(key, parse, (action,)),
                        query=self._get_arm(key, action),
                    )
                )
        return rows

    @staticmethod
    def _parse_count(arg: str) -> int:
        if arg.strip().upper() in ("INF", "INFINITY"):
            return COUNT_INFINITY
        return round(number(arg, 1, 100000, 1))

    def _trigger_commands(self) -> CommandTable:
        """TRIGger layer settings per action (SCPI reference, TRIGger subsystem), as the ARM
        ones: ``:TRIGger[c]<:ACQuire|:TRANsient|[:ALL]>:SOURce`` (*RST AINT) and ``:DELay``
        (*RST 0 s; the acquire delay is booked before every measurement)."""
        rows = []
        for node, key, _default, parse in _ARM_SETTINGS[:2]:
            rows.append(
                cmd(f":TRIGger[:ALL]{node}", write=self._set_trig(key, parse, _ARM_ACTIONS))
            )
            for action, long in zip(_ARM_ACTIONS, ("ACQuire", "TRANsient"), strict=True):
                rows.append(
                    cmd(
                        f":TRIGger:{long}{node}",
                        write=self._set_trig(key, parse, (action,)),
                        query=self._get_trig(key, action),
                    )
                )
        return rows

    def _set_trig(
        self, key: str, parse: Callable[[str], object], actions: tuple[str, ...]
    ) -> Callable[[list[str]], None]:
        def write(args: list[str]) -> None:
            value = parse(one(args))
            for action in actions:
                self.st.extra[f"trig_{key}_{action}"] = value
            if key == "delay" and "acq" in actions:
                self.st.trigger_delay = float(str(value))

        return write

    def _trace(self, ch: SmuChannel) -> dict[str, object]:
        return ch.state.extra.setdefault(
            "trace", {"points": [], "size": 100000, "feed": "SENS", "control": "NEV"}
        )

    def _feed(self, ch: SmuChannel, points: list[Point]) -> None:
        """TRACe subsystem (SCPI reference): with ``:TRACe[c]:FEED:CONTrol NEXT`` each
        acquired point is stored until ``:TRACe[c]:POINts`` are held, then NEVer."""
        trace = self._trace(ch)
        if trace["control"] != "NEXT":
            return
        stored: list[Point] = trace["points"]  # type: ignore[assignment]
        stored.extend(points[: int(trace["size"]) - len(stored)])  # type: ignore[call-overload]
        if len(stored) >= int(trace["size"]):  # type: ignore[call-overload]
            trace["control"] = "NEV"

    def _trace_rows(self) -> CommandTable:
        def setting(key: str, parse: Callable[[str], object]) -> tuple:
            def write(args: list[str]) -> None:
                self._trace(self.ch)[key] = parse(one(args))

            return write, lambda a: noargs(a, str(self._trace(self.ch)[key]))

        def clear(args: list[str]) -> None:
            count(args, 0)
            self._trace(self.ch)["points"] = []

        def data(args: list[str]) -> str:
            points = self._trace(self.ch)["points"]
            if not points:
                raise ScpiError(-230)
            return self._format(points, self.ch, None)  # type: ignore[arg-type]

        size = setting("size", lambda a: round(number(a, 1, 100000)))
        feed = setting("feed", lambda a: choice(a, ("SENSe", "MATH", "LIMit")))
        control = setting("control", lambda a: choice(a, ("NEXT", "NEVer")))
        return [
            cmd(":TRACe:POINts", *size),
            cmd(
                ":TRACe:POINts:ACTual",
                query=lambda a: noargs(a, str(len(self._trace(self.ch)["points"]))),
            ),  # type: ignore[arg-type]
            cmd(":TRACe:FEED", *feed),
            cmd(":TRACe:FEED:CONTrol", *control),
            cmd(":TRACe:CLEar", write=clear),
            cmd(":TRACe:DATA", query=data),
        ]

    def _get_trig(self, key: str, action: str) -> Callable[[list[str]], str]:
        return lambda args: noargs(args, str(self.st.extra[f"trig_{key}_{action}"]))

    def _set_arm(
        self, key: str, parse: Callable[[str], object], actions: tuple[str, ...]
    ) -> Callable[[list[str]], None]:
        def write(args: list[str]) -> None:
            value = parse(one(args))
            for action in actions:
                self.st.extra[f"arm_{key}_{action}"] = value

        return write

    def _get_arm(self, key: str, action: str) -> Callable[[list[str]], str]:
        return lambda args: noargs(args, str(self.st.extra[f"arm_{key}_{action}"]))
