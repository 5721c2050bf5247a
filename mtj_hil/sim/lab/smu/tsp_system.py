"""Instrument-wide TSP objects of the virtual 2602B beyond the channels: ``status``,
``trigger`` (event IDs and event blenders), ``display`` (Series 2600B Reference Manual,
2600BS-901-01: ``status.*`` and appendix E "Status model", ``trigger.blender[N]``,
``trigger.EVENT_ID``, ``display.smuX.measure.func``).

Status: ``status.condition`` / ``status.standard.event`` (the ``*ESR?`` register, cleared by
reading), ``status.standard.enable``, ``status.questionable.condition`` (bit B12 OTEMP),
``status.measurement.instrument.smuX.condition`` (B0 voltage limit, B1 current limit),
``status.operation.sweeping.condition`` (bit B1 smua, B2 smub: a trigger-model sweep is
running, i.e. the modelled clock has not yet reached its end), each register's ``enable``,
``status.reset()``. Event blenders and the display store what is set (the trigger model here
runs as soon as it is initiated, whatever its stimuli).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from mtj_hil.sim.lab.smu.tsp_objects import Obj, num

__all__ = ["Indexed", "display_object", "status_object", "trigger_object"]

QUESTIONABLE_OTEMP = 1 << 12


class Indexed(Obj):
    """A TSP table indexed by number (``trigger.blender[1]``, ``stimulus[2]``)."""

    def __init__(self, name: str, make: Callable[[int], Any] | None = None) -> None:
        super().__init__(name)
        self.items: dict[int, Any] = {}
        self.make = make

    def index(self, key: Any) -> Any:
        k = int(key) if isinstance(key, int | float) else 0
        if k not in self.items and self.make is not None and 1 <= k <= 6:
            self.items[k] = self.make(k)
        return self.items.get(k, 0.0 if self.make is None else None)

    def set(self, key: Any, value: Any) -> None:
        if isinstance(key, int | float):
            self.items[int(key)] = value
            return
        super().set(key, value)


def _register(name: str, condition: Callable[[], float]) -> Obj:
    reg = Obj(name)
    state = {"enable": 0.0}
    reg.field("condition", condition, None)
    reg.field("event", condition, None)
    reg.field("enable", lambda: state["enable"], lambda v: state.update(enable=num(v, 0, 65535)))
    return reg


def _limits(inst: Any, name: str) -> float:
    """``status.measurement.instrument.smuX`` condition: bit B0 VOLTAGE_LIMIT (a current
    source at its voltage limit), B1 CURRENT_LIMIT (a voltage source at its current limit),
    from the channel's last measurement."""
    channel = inst.smu[name]
    if not channel.st.extra.get("compliance"):
        return 0.0
    return 2.0 if channel.st.source_function == "VOLT" else 1.0


def status_object(inst: Any) -> Obj:
    """``status`` of the instrument ``inst`` (its ``esr``, ``over_temperature``, channels)."""

    def sweeping() -> float:
        now = inst.clock.now
        bits = 0
        for k, name in enumerate(inst.CHANNELS):
            if inst.smu[name].sweep_end > now:
                bits |= 2 << k
        return float(bits)

    def read_esr() -> float:
        return float(inst.read_esr())

    status = Obj("status")
    standard = Obj("status.standard")
    standard.field("event", read_esr, None)
    standard.field("condition", lambda: float(inst.esr), None)
    enable = {"v": 0.0}
    standard.field("enable", lambda: enable["v"], lambda v: enable.update(v=num(v, 0, 255)))
    standard.const(PON=128.0, OPC=1.0, QYE=4.0, DDE=8.0, EXE=16.0, CME=32.0, URQ=64.0)
    questionable = _register(
        "status.questionable", lambda: float(QUESTIONABLE_OTEMP if inst.over_temperature else 0)
    )
    questionable.const(OTEMP=float(QUESTIONABLE_OTEMP), OVER_TEMPERATURE=float(QUESTIONABLE_OTEMP))
    operation = _register("status.operation", lambda: float(2048 if sweeping() else 0))
    operation.field("sweeping", lambda: sweep_reg, None)
    sweep_reg = _register("status.operation.sweeping", sweeping)
    measurement = _register("status.measurement", lambda: 0.0)
    instrument = Obj("status.measurement.instrument")
    for name in inst.CHANNELS:
        reg = _register(f"status.measurement.instrument.smu{name}", lambda n=name: _limits(inst, n))
        reg.const(VOLTAGE_LIMIT=1.0, VLMT=1.0, CURRENT_LIMIT=2.0, ILMT=2.0)
        instrument.field(f"smu{name}", lambda r=reg: r, None)
    measurement.field("instrument", lambda: instrument, None)
    for name, obj in (("standard", standard), ("questionable", questionable),
                      ("operation", operation), ("measurement", measurement)):  # fmt: skip
        status.field(name, lambda o=obj: o, None)
    status.field(
        "condition",
        lambda: float((8 if inst.over_temperature else 0) | (4 if inst.errors() else 0)),
        None,
    )
    status.fn("reset", lambda *a: setattr(inst, "esr", 0))
    return status


def trigger_object() -> Obj:
    """``trigger``: ``EVENT_ID`` (the ``*TRG`` event) and six event blenders."""

    def blender(k: int) -> Obj:
        b = Obj(f"trigger.blender[{k}]")
        store = {"orenable": False}
        b.field("orenable", lambda: store["orenable"], lambda v: store.update(orenable=bool(v)))
        stim = Indexed(f"trigger.blender[{k}].stimulus")
        b.field("stimulus", lambda: stim, None)
        b.const(EVENT_ID=float(20 + k))
        b.fn("clear", lambda *a: stim.items.clear())
        return b

    trig = Obj("trigger")
    trig.const(EVENT_ID=1.0)
    blenders = Indexed("trigger.blender", blender)
    trig.field("blender", lambda: blenders, None)
    trig.fn("clear", lambda *a: None)
    trig.fn("wait", lambda *a: True)
    return trig


def display_object() -> Obj:
    """``display``: per channel ``measure.func`` (stored), the MEASURE_* constants, and
    ``clear()``/``screen`` (stored)."""
    disp = Obj("display")
    disp.const(MEASURE_DCAMPS=0.0, MEASURE_DCVOLTS=1.0, MEASURE_OHMS=2.0, MEASURE_WATTS=3.0,
               SMUA=0.0, SMUB=1.0, SMUA_SMUB=2.0, USER=3.0)  # fmt: skip
    screen = {"v": 0.0}
    disp.field("screen", lambda: screen["v"], lambda v: screen.update(v=num(v, 0, 3)))
    disp.fn("clear", lambda *a: None)
    for ch in ("smua", "smub"):
        meas = Obj(f"display.{ch}.measure")
        func = {"v": 0.0}
        meas.field("func", lambda f=func: f["v"], lambda v, f=func: f.update(v=num(v, 0, 3)))
        sub = Obj(f"display.{ch}")
        sub.field("measure", lambda m=meas: m, None)
        disp.field(ch, lambda s=sub: s, None)
    return disp
