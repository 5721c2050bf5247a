"""The channel object ``smua`` / ``smub`` of the virtual Keithley 2602B (see
:mod:`mtj_hil.sim.lab.smu.keithley2600`): ``smuX.source``, ``smuX.measure`` (with ``filter``
and ``rel``), the reading buffers and the trigger model over the shared core's channel.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mtj_hil.sim.lab.smu.core import ChannelDefaults, Point, range_for
from mtj_hil.sim.lab.smu.tsp import TspError, TspTable
from mtj_hil.sim.lab.smu.tsp_objects import TOO_BIG, Buffer, Obj, choice, num

__all__ = ["TspChannel"]

STATUS_COMPLIANCE = 0x40
#: status.questionable bit B12, over temperature (reference manual appendix E)
QUESTIONABLE_OTEMP = 1 << 12
_V_RANGES = (0.1, 1.0, 6.0, 40.0)
_I_RANGES = (1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 3.0)


class TspChannel(Obj):
    """``smua`` / ``smub``: the channel object over the shared core's :class:`SmuChannel`."""

    def __init__(self, inst: Any, letter: str) -> None:
        self.sweep_end = 0.0  # modelled time the last trigger-model sweep ended
        super().__init__(f"smu{letter}")
        self.inst = inst
        self.ch = inst.channels[letter]
        self.const(
            OUTPUT_OFF=0.0, OUTPUT_ON=1.0, OUTPUT_HIGH_Z=2.0, OUTPUT_DCAMPS=0.0,
            OUTPUT_DCVOLTS=1.0, ENABLE=1.0, DISABLE=0.0, AUTORANGE_OFF=0.0, AUTORANGE_ON=1.0,
            SENSE_LOCAL=0.0, SENSE_REMOTE=1.0, OUTPUT_NORMAL=0.0, OUTPUT_ZERO=2.0,
            SOURCE_IDLE=0.0, SOURCE_HOLD=1.0, SOURCE_LOW=2.0, FILTER_OFF=0.0, FILTER_ON=1.0,
            FILTER_MOVING_AVG=0.0, FILTER_REPEAT_AVG=1.0, FILTER_MEDIAN=2.0, REL_OFF=0.0,
            REL_ON=1.0, AUTOZERO_OFF=0.0, AUTOZERO_ONCE=1.0, AUTOZERO_AUTO=2.0, DELAY_OFF=0.0,
            DELAY_AUTO=-1.0,
        )  # fmt: skip
        self.fn("reset", lambda *a: self.reset())
        self.fn("abort", lambda *a: None)
        self.nvbuffer1 = Buffer(f"smu{letter}.nvbuffer1")
        self.nvbuffer2 = Buffer(f"smu{letter}.nvbuffer2")
        self.field("nvbuffer1", lambda: self.nvbuffer1, None)
        self.field("nvbuffer2", lambda: self.nvbuffer2, None)
        self.field("sense", lambda: float(self.st.remote_sense), self._set_sense)
        self.source = self._source()
        self.measure = self._measure()
        self.trigger = self._trigger()
        self.field("source", lambda: self.source, None)
        self.field("measure", lambda: self.measure, None)
        self.field("trigger", lambda: self.trigger, None)

    @property
    def st(self) -> ChannelDefaults:
        return self.ch.state

    def reset(self) -> None:
        self.ch.reset()
        self.nvbuffer1.points.clear()
        self.nvbuffer2.points.clear()

    def _setter(
        self, attr: str, lo: float, hi: float, record: bool = False
    ) -> Callable[[Any], None]:
        def put(value: Any) -> None:
            setattr(self.st, attr, num(value, lo, hi))
            if record:
                self.ch.record()

        return put

    def _source(self) -> Obj:
        src = Obj(f"{self.name}.source")
        st = lambda: self.ch.state  # noqa: E731
        vmax = self.inst.VOLTAGE_LIMIT
        src.field("output", lambda: 1.0 if st().output else 0.0, self._set_output)
        src.field("func", lambda: 1.0 if st().source_function == "VOLT" else 0.0, self._set_func)
        src.field("levelv", lambda: st().level_v, self._set_levelv)
        src.field("leveli", lambda: st().level_i, self._set_leveli)
        src.field("limiti", lambda: st().limit_i, self._setter("limit_i", 10e-9, 3.0))
        src.field("limitv", lambda: st().limit_v, self._setter("limit_v", 10e-3, vmax))
        src.field("protectv", lambda: st().extra.get("protectv", 0.0), self._set_protect)
        src.field("rangev", lambda: st().v_range, self._range("v_range", _V_RANGES))
        src.field("rangei", lambda: st().i_src_range, self._range("i_src_range", _I_RANGES))
        src.field("autorangev", lambda: float(st().v_range_auto), self._flag("v_range_auto"))
        src.field(
            "autorangei", lambda: float(st().i_src_range_auto), self._flag("i_src_range_auto")
        )
        src.field("compliance", lambda: bool(st().extra.get("compliance", False)), None)
        for name, default in (("offmode", 0.0), ("settling", 0.0), ("highc", 0.0)):
            src.field(name, lambda n=name, d=default: st().extra.get(n, d), self._store(name))
        src.field("delay", self._get_delay, self._set_delay)
        return src

    def _set_sense(self, value: Any) -> None:
        self.st.remote_sense = choice(value, (0.0, 1.0)) == 1.0

    def _get_delay(self) -> float:
        return -1.0 if self.st.source_delay_auto else self.st.source_delay

    def _set_delay(self, value: Any) -> None:
        """``smuX.source.delay``: seconds, ``DELAY_OFF`` (0) or ``DELAY_AUTO`` (-1)."""
        seconds = num(value, -1.0, 1e4)
        self.st.source_delay_auto = seconds == -1.0
        self.st.source_delay = max(seconds, 0.0)

    def _filter(self) -> Obj:
        """``smuX.measure.filter``: ``enable``, ``type``, ``count`` (1 to 100)."""
        flt = Obj(f"{self.name}.measure.filter")
        st = lambda: self.ch.state  # noqa: E731
        types = {0.0: "MOV", 1.0: "REP", 2.0: "MED"}
        flt.field("enable", lambda: float(st().filter_on), self._flag("filter_on"))
        flt.field(
            "type",
            lambda: next(k for k, v in types.items() if v == st().filter_type),
            lambda v: setattr(st(), "filter_type", types[choice(v, tuple(types))]),
        )
        flt.field(
            "count",
            lambda: float(st().filter_count),
            lambda v: setattr(st(), "filter_count", int(num(v, 1, 100))),
        )
        return flt

    def _rel(self) -> Obj:
        """``smuX.measure.rel``: ``enablei`` / ``leveli`` (current REL)."""
        rel = Obj(f"{self.name}.measure.rel")
        st = lambda: self.ch.state  # noqa: E731
        rel.field("enablei", lambda: float(st().rel_on), self._flag("rel_on"))
        rel.field(
            "leveli",
            lambda: st().rel_level,
            lambda v: setattr(st(), "rel_level", num(v, -3.0, 3.0)),
        )
        return rel

    def _measure(self) -> Obj:
        meas = Obj(f"{self.name}.measure")
        st = lambda: self.ch.state  # noqa: E731
        meas.field("nplc", lambda: st().nplc, self._setter("nplc", 0.001, 25.0))
        meas.field("rangei", lambda: st().i_range, self._range("i_range", _I_RANGES))
        meas.field("autorangei", lambda: float(st().i_range_auto), self._flag("i_range_auto"))
        meas.field("rangev", lambda: st().extra.get("mrangev", 40.0), self._store("mrangev"))
        meas.field("autorangev", lambda: st().extra.get("mautov", 1.0), self._store("mautov"))
        meas.field("count", lambda: float(st().extra.get("count", 1)), self._set_count)
        for name, default in (("delay", 0.0), ("interval", 0.0)):
            meas.field(name, lambda n=name, d=default: st().extra.get(n, d), self._store(name))
        meas.field("autozero", lambda: st().extra.get("autozero", 2.0), self._set_autozero)
        filt, rel = self._filter(), self._rel()
        meas.field("filter", lambda: filt, None)
        meas.field("rel", lambda: rel, None)
        meas.fn("i", lambda *b: self._spot("i", b))
        meas.fn("v", lambda *b: self._spot("v", b))
        meas.fn("r", lambda *b: self._spot("r", b))
        meas.fn("p", lambda *b: self._spot("p", b))
        meas.fn("iv", lambda *b: self._spot("iv", b))
        return meas

    def _trigger(self) -> Obj:
        trig = Obj(f"{self.name}.trigger")
        ex = lambda: self.ch.state.extra  # noqa: E731
        source, measure, arm = Obj("source"), Obj("measure"), Obj("arm")
        endsweep, endpulse = Obj("endsweep"), Obj("endpulse")
        trig.field("count", lambda: float(ex().get("tcount", 1)), self._int_store("tcount", 0, 1e9))
        trig.fn("initiate", lambda *a: self._initiate())
        trig.const(SOURCE_COMPLETE_EVENT_ID=31.0, MEASURE_COMPLETE_EVENT_ID=32.0,
                   PULSE_COMPLETE_EVENT_ID=33.0, SWEEP_COMPLETE_EVENT_ID=34.0,
                   ARMED_EVENT_ID=35.0, IDLE_EVENT_ID=36.0)  # fmt: skip
        trig.fn("abort", lambda *a: None)
        for obj, name in ((source, "source"), (measure, "measure"), (arm, "arm")):
            trig.field(name, lambda o=obj: o, None)
        trig.field("endsweep", lambda: endsweep, None)
        trig.field("endpulse", lambda: endpulse, None)
        source.fn("listv", self._listv)
        source.fn("linearv", self._linearv)
        source.field(
            "action", lambda: ex().get("src_action", 0.0), self._store("src_action", (0.0, 1.0))
        )
        source.field("limiti", lambda: ex().get("sweep_limiti", 0.0), self._store("sweep_limiti"))
        source.field("stimulus", lambda: 0.0, lambda v: None)
        measure.fn("i", lambda b=None: self._set_trigger_measure("i", b))
        measure.fn("v", lambda b=None: self._set_trigger_measure("v", b))
        measure.fn("iv", lambda b=None, c=None: self._set_trigger_measure("iv", b, c))
        measure.field(
            "action", lambda: ex().get("meas_action", 0.0), self._store("meas_action", (0.0, 1.0))
        )
        measure.field("stimulus", lambda: 0.0, lambda v: None)
        arm.field("count", lambda: float(ex().get("acount", 1)), self._int_store("acount", 1, 1e9))
        arm.field("stimulus", lambda: 0.0, lambda v: None)
        endsweep.field("action", lambda: ex().get("endsweep", 0.0), self._store("endsweep"))
        endpulse.field("action", lambda: ex().get("endpulse", 1.0), self._store("endpulse"))
        endpulse.field(
            "stimulus", lambda: ex().get("endpulse_stim", 0.0), self._store("endpulse_stim")
        )
        return trig

    # ------------------------------------------------------------------ setters

    def _store(self, key: str, options: tuple[float, ...] | None = None) -> Callable[[Any], None]:
        def put(value: Any) -> None:
            self.st.extra[key] = choice(value, options) if options else num(value, -1e9, 1e9)

        return put

    def _int_store(self, key: str, lo: float, hi: float) -> Callable[[Any], None]:
        def put(value: Any) -> None:
            self.st.extra[key] = int(num(value, lo, hi))

        return put

    def _flag(self, attr: str) -> Callable[[Any], None]:
        def put(value: Any) -> None:
            setattr(self.st, attr, bool(choice(value, (0.0, 1.0))))

        return put

    def _range(self, attr: str, ranges: tuple[float, ...]) -> Callable[[Any], None]:
        def put(value: Any) -> None:
            setattr(
                self.st,
                attr,
                range_for(
                    num(abs(value) if isinstance(value, float) else value, 0, ranges[-1] * 1.01),
                    ranges,
                ),
            )
            setattr(self.st, attr + "_auto", False)

        return put

    def _set_output(self, value: Any) -> None:
        on = choice(value, (0.0, 1.0, 2.0)) == 1.0
        block = self.inst.output_block() if on else None
        if block is not None:
            raise TspError(*block)
        self.st.output = on
        self.ch.record()

    def _set_func(self, value: Any) -> None:
        self.st.source_function = "VOLT" if choice(value, (0.0, 1.0)) == 1.0 else "CURR"
        self.ch.record()

    def _check_v(self, value: Any) -> float:
        volts = num(value, -self.inst.VOLTAGE_LIMIT, self.inst.VOLTAGE_LIMIT)
        if not self.inst.check_level(volts, self.inst.VOLTAGE_LIMIT):
            raise TspError(*TOO_BIG)
        return volts

    def _set_levelv(self, value: Any) -> None:
        if not self.ch.program_level("VOLT", self._check_v(value), _V_RANGES, 1.01):
            raise TspError(*TOO_BIG)

    def _set_leveli(self, value: Any) -> None:
        if not self.ch.program_level("CURR", num(value, -3.0, 3.0), _I_RANGES, 1.01):
            raise TspError(*TOO_BIG)

    def _set_protect(self, value: Any) -> None:
        volts = num(value, 0.0, self.inst.VOLTAGE_LIMIT)
        self.st.extra["protectv"] = volts
        self.st.ovp = volts if volts > 0 else self.inst.VOLTAGE_LIMIT

    def _set_autozero(self, value: Any) -> None:
        """``smuX.measure.autozero``: ``AUTOZERO_OFF`` 0, ``_ONCE`` 1, ``_AUTO`` 2."""
        mode = choice(value, (0.0, 1.0, 2.0))
        self.st.extra["autozero"] = 0.0 if mode == 1.0 else mode  # ONCE runs once, then off
        self.st.autozero = mode == 2.0

    def _set_count(self, value: Any) -> None:
        self.st.extra["count"] = int(num(value, 1, 60000))

    # ------------------------------------------------------------------ measurement

    def _status(self, point: Point) -> float:
        return float(STATUS_COMPLIANCE if point.compliance else 0)

    def _value(self, kind: str, point: Point) -> Any:
        # beyond a fixed range, too: "an overrange ... The value 9.91000E+37 is returned"
        # (Series 2600B Reference Manual, smuX.measure.rangeY)
        current = 9.91e37 if point.beyond_range else point.current
        if kind == "i":
            return current
        if kind == "v":
            return point.voltage
        if kind == "r":
            return point.voltage / current if current else 9.91e37
        if kind == "p":
            return point.voltage * current
        return (current, point.voltage)

    def _source_value(self) -> float:
        return self.st.level_v if self.st.source_function == "VOLT" else self.st.level_i

    def _spot(self, kind: str, buffers: tuple[Any, ...]) -> Any:
        n = int(self.st.extra.get("count", 1))
        result: Any = None
        for _ in range(n):
            point = self.ch.measure()
            self.st.extra["compliance"] = point.compliance
            result = self._value(kind, point)
            for k, buf in enumerate(buffers[: 2 if kind == "iv" else 1]):
                if isinstance(buf, Buffer):
                    value = result[k] if kind == "iv" else result
                    buf.points.append(
                        (value, self._source_value(), self._status(point), point.time)
                    )
        return result

    def _listv(self, values: Any = None) -> None:
        if not isinstance(values, TspTable) or not values:
            raise TspError(
                -286, "TSP Runtime error at line 1: bad argument #1 to 'listv' (table expected)"
            )
        self.st.extra["sweep"] = [self._check_v(v) for v in values]

    def _linearv(self, start: Any = None, stop: Any = None, points: Any = None) -> None:
        a, b = self._check_v(start), self._check_v(stop)
        n = int(num(points, 2, 60000))
        self.st.extra["sweep"] = [a + (b - a) * k / (n - 1) for k in range(n)]

    def _set_trigger_measure(self, kind: str, buffer: Any, second: Any = None) -> None:
        """``smuX.trigger.measure.Y(buffer)``; ``iv(ibuffer, vbuffer)`` fills both."""
        if not isinstance(buffer, Buffer) or (kind == "iv" and not isinstance(second, Buffer)):
            raise TspError(-286, "TSP Runtime error at line 1: bad argument #1 (buffer expected)")
        self.st.extra["meas_kind"] = kind
        self.st.extra["meas_buffer"] = buffer
        self.st.extra["meas_buffer2"] = second

    def _initiate(self) -> None:
        """Run the trigger model now: arm count x trigger count points, time booked."""
        ex = self.st.extra
        sweep: list[float] = ex.get("sweep", [])
        sourcing = ex.get("src_action", 0.0) == 1.0 and bool(sweep)
        measuring = ex.get("meas_action", 0.0) == 1.0 and "meas_buffer" in ex
        total = int(ex.get("tcount", 1)) * int(ex.get("acount", 1))
        if total <= 0:
            total = len(sweep) if sweep else 1
        for k in range(total):
            level = sweep[k % len(sweep)] if sourcing else None
            if level is not None:
                self.ch.record(level)
            if measuring:
                point = self.ch.measure(level)
                value = self._value(ex["meas_kind"], point)
                source = level if level is not None else self._source_value()
                row = (self._status(point), point.time)
                if isinstance(value, tuple):  # iv: current, then voltage
                    ex["meas_buffer2"].points.append((value[1], source, *row))
                    value = value[0]
                ex["meas_buffer"].points.append((value, source, *row))
                ex["compliance"] = point.compliance
            else:
                self.ch.integrate()
        if sourcing:
            self.ch.record()  # endsweep SOURCE_IDLE: back to the programmed level
        # the sweep ran within this command: status.operation.sweeping reports it until the
        # modelled clock passes its end, i.e. no longer once the next command arrives
        self.sweep_end = self.inst.clock.now
