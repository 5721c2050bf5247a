"""The 2400's one-shot measurement commands: ``:CONFigure:<function>`` and
``:MEASure[:<function>]?``.

2400 User's Manual, section 17 "SCPI signal-oriented measurement commands": ``:CONFigure``
selects the function and sets up a single measurement whatever the last user left: the
function's controls (integration time, filter, REL, range) go back to their ``*RST``
values, the trigger model's arm and trigger counts to one and its delay to zero, buffer
storage stops and the output turns on. ``:MEASure:<function>?`` is ``:CONFigure`` then
``:READ?``: one point. ``:MEASure?`` without a function keeps the present ones.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mtj_hil.sim.lab.smu.scpi import count


class Configure2400:
    """Mixin of :class:`~mtj_hil.sim.lab.smu.keithley2400.Keithley2400`."""

    st: Any
    ch: Any
    feed_control: str

    def _configure(self, function: str | None) -> None:
        st = self.st
        extra = st.extra
        if function is not None:
            extra["sense"] = {function} if not extra["concurrent"] else {function, *extra["sense"]}
            reset = self.channel_defaults(self.ch.name)  # type: ignore[attr-defined]
            st.nplc, st.autozero = reset.nplc, reset.autozero
            st.filter_on, st.rel_on = reset.filter_on, reset.rel_on
            st.i_range_auto = reset.i_range_auto
            st.trigger_count, st.trigger_delay = 1, 0.0
            extra["arm_count"] = 1
            self.feed_control = "NEV"
        if not st.output:  # CONFigure turns the output on, as on the instrument
            self.refuse_blocked_output()  # type: ignore[attr-defined]
            st.output = True
            self.ch.record()

    def _configure_as(self, function: str) -> Callable[[list[str]], None]:
        def configure(args: list[str]) -> None:
            count(args, 0)
            self._configure(function)

        return configure

    def _measure_as(self, function: str | None) -> Callable[[list[str]], str]:
        def measure(args: list[str]) -> str:
            count(args, 0)
            self._configure(function)
            return self._query_read([])  # type: ignore[attr-defined]

        return measure
