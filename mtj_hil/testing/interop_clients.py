"""More peer clients for the interop bench: buffer paths, snapshots and sweeps of pymeasure's,
QCoDeS's and the ``keithley2600`` package's drivers, unmodified, against the virtual lab; and
the peer bugs each known failure comes from.

Every script follows :mod:`mtj_hil.testing.interop`: ``step(op, fn)`` records each operation,
``check(amps)`` compares a current with the die's physics. A failure is attributed when its
operation and message match an entry of :data:`PEER_BUGS`, which names the peer and the bug
(a command its model does not have, a race, an undocumented firmware call); anything else is
reported unattributed - a fault of the virtual instrument until shown otherwise.
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from typing import Any

__all__ = ["MORE_CLIENTS", "PEER_BUGS", "attribute"]

VOLTAGE = 0.1
CLIENT_TIMEOUT_MS = 1000
"""I/O timeout (ms) the clients get. The virtual instruments answer within milliseconds;
a pair that fails by a query left unanswered waits this out at each one."""
VISA = {
    "visa_library": "@py",
    "read_termination": "\n",
    "write_termination": "\n",
    "timeout": CLIENT_TIMEOUT_MS,
}
Script = Callable[[str, Any, Callable[[float], None]], None]


def _no_errors(errors: Any) -> None:
    if errors:
        raise AssertionError(f"error queue: {errors}")


def _scpi_errors(ask: Callable[[str], str]) -> list[str]:
    found = []
    for _ in range(20):
        reply = ask(":SYST:ERR?")
        if int(float(reply.split(",")[0])) == 0:
            break
        found.append(reply)
    return found


def _pymeasure(model: str) -> Any:
    return getattr(importlib.import_module("pymeasure.instruments.keithley"), model)


def _pymeasure_buffer(model: str, configure: Callable[[Any], None]) -> Script:
    """pymeasure's KeithleyBuffer path: ``config_buffer(3)``, ``start_buffer``,
    ``wait_for_buffer``, ``means`` (mean voltage, current, ...)."""

    def script(resource: str, step: Any, check: Callable[[float], None]) -> None:
        smu = step("open", lambda: _pymeasure(model)(resource, **VISA))
        if smu is None:
            return
        step("configure", lambda: configure(smu))
        step("buffer", lambda: (smu.config_buffer(points=3), smu.start_buffer(),
                                smu.wait_for_buffer(timeout=CLIENT_TIMEOUT_MS / 1000, interval=0.01)))  # fmt: skip
        step("measure", lambda: check(smu.means[1]))
        step("errors", lambda: _no_errors(smu.check_errors()))
        step("shutdown", lambda: (smu.shutdown(), smu.ask("*OPC?")))
        smu.adapter.close()

    return script


def _configure_2400(smu: Any) -> None:
    smu.reset()
    smu.source_mode = "voltage"
    smu.compliance_current = 1e-3
    smu.current_nplc = 1
    smu.source_voltage = VOLTAGE
    smu.enable_source()


def _configure_2450(smu: Any) -> None:
    smu.apply_voltage(compliance_current=1e-3)
    smu.measure_current(nplc=1)
    smu.source_voltage = VOLTAGE
    smu.enable_source()


def _pymeasure_2600_ramp(resource: str, step: Any, check: Callable[[float], None]) -> None:
    """pymeasure Keithley2600 channel A: ``ramp_to_voltage`` then ``current``."""
    smu = step("open", lambda: _pymeasure("Keithley2600")(resource, **VISA))
    if smu is None:
        return
    ch = smu.ChA
    step("configure", lambda: (ch.apply_voltage(compliance_current=1e-3),
                               ch.measure_current(nplc=1), setattr(ch, "source_output", "ON")))  # fmt: skip
    step("sweep", lambda: ch.ramp_to_voltage(VOLTAGE, steps=3, pause=0))
    step("measure", lambda: check(ch.current))
    step("errors", lambda: _no_errors(smu.check_errors()))
    step("shutdown", lambda: (ch.shutdown(), smu.ask("*OPC?")))
    smu.adapter.close()


def _qcodes(model: str, name: str, resource: str) -> Any:
    driver = getattr(importlib.import_module("qcodes.instrument_drivers.Keithley"), model)
    return driver(name, resource, visalib="@py", timeout=CLIENT_TIMEOUT_MS / 1000)


def _qcodes_2400_snapshot(resource: str, step: Any, check: Callable[[float], None]) -> None:
    smu = step("open", lambda: _qcodes("Keithley2400", "k2400s", resource))
    if smu is None:
        return
    try:
        step(
            "configure",
            lambda: (smu.mode("VOLT"), smu.compliancei(1e-3), smu.volt(VOLTAGE), smu.output(True)),
        )
        step("snapshot", lambda: smu.snapshot(update=True))
        step("measure", lambda: check(smu.curr()))
        step("errors", lambda: _no_errors(_scpi_errors(smu.ask)))
        step("shutdown", lambda: (smu.output(False), smu.ask("*OPC?")))
    finally:
        smu.close()


def _qcodes_2450(op: str) -> Script:
    """QCoDeS Keithley2450: a buffered ``sense.sweep()`` (op ``sweep``) or a full
    ``snapshot(update=True)`` (op ``snapshot``)."""

    def script(resource: str, step: Any, check: Callable[[float], None]) -> None:
        smu = step("open", lambda: _qcodes("Keithley2450", f"k2450{op}", resource))
        if smu is None:
            return
        try:
            step("configure", lambda: (smu.source_function("voltage"), smu.sense_function("current"),
                                       smu.source.limit(1e-3), smu.source.voltage(VOLTAGE),
                                       smu.output_enabled(True)))  # fmt: skip
            if op == "sweep":
                smu.source.sweep_setup(VOLTAGE, VOLTAGE, 3)
                step("sweep", lambda: [check(v) for v in smu.sense.sweep()])
            else:
                step("snapshot", lambda: smu.snapshot(update=True))
                step("measure", lambda: check(smu.sense.current()))
            step("errors", lambda: _no_errors(_scpi_errors(smu.ask)))
            step("shutdown", lambda: (smu.output_enabled(False), smu.ask("*OPC?")))
        finally:
            smu.close()

    return script


def _qcodes_2602b(op: str) -> Script:
    """QCoDeS Keithley2602B channel A: spot ``curr()``, a ``snapshot``, or the Lua-script
    ``fastsweep`` (op ``measure`` / ``snapshot`` / ``sweep``)."""

    def script(resource: str, step: Any, check: Callable[[float], None]) -> None:
        smu = step("open", lambda: _qcodes("Keithley2602B", f"k2602b{op}", resource))
        if smu is None:
            return
        ch = smu.smua
        try:
            step(
                "configure",
                lambda: (ch.mode("voltage"), ch.limiti(1e-3), ch.volt(VOLTAGE), ch.output("on")),
            )
            if op == "sweep":
                from qcodes.dataset import LinSweep

                ch.setup_fastsweep(LinSweep(ch.volt, VOLTAGE, VOLTAGE, 3), mode="IV")
                step("sweep", lambda: [check(v) for v in ch.fastsweep()])
            elif op == "snapshot":
                step("snapshot", lambda: smu.snapshot(update=True))
            step("measure", lambda: check(ch.curr()))
            step(
                "errors",
                lambda: _no_errors(smu.get_error_list() if hasattr(smu, "get_error_list") else []),
            )
            step("shutdown", lambda: (ch.output("off"), smu.ask("1")))
        finally:
            smu.close()

    return script


def _keithley2600(op: str) -> Script:
    """The ``keithley2600`` package: spot ``measure.i()`` or ``voltage_sweep_single_smu``."""

    def script(resource: str, step: Any, check: Callable[[float], None]) -> None:
        module = importlib.import_module("keithley2600")
        k = step("open", lambda: module.Keithley2600(resource, visa_library="@py",
                                                      raise_keithley_errors=True,
                                                      timeout=CLIENT_TIMEOUT_MS))  # fmt: skip
        if k is None:
            return
        smu = k.smua
        step("configure", lambda: (setattr(smu.source, "limiti", 1e-3),
                                   setattr(smu.source, "levelv", VOLTAGE),
                                   setattr(smu.source, "output", smu.OUTPUT_ON)))  # fmt: skip
        if op == "sweep":
            step("sweep", lambda: [check(i) for i in
                                   k.voltage_sweep_single_smu(smu, [VOLTAGE] * 3, 1 / 60, -1, False)[1]])  # fmt: skip
        step("measure", lambda: check(smu.measure.i()))
        step(
            "errors", lambda: _no_errors(k.readErrorQueue() if hasattr(k, "readErrorQueue") else [])
        )
        step("shutdown", lambda: setattr(smu.source, "output", smu.OUTPUT_OFF))
        k.disconnect()

    return script


#: client name -> (module it needs, dialect, script)
MORE_CLIENTS: dict[str, tuple[str, str, Script]] = {
    "pymeasure Keithley2400 buffer": ("pymeasure", "keithley2400", _pymeasure_buffer("Keithley2400", _configure_2400)),
    "pymeasure Keithley2450 buffer": ("pymeasure", "keithley2450", _pymeasure_buffer("Keithley2450", _configure_2450)),
    "pymeasure Keithley2600 ramp": ("pymeasure", "keithley2600", _pymeasure_2600_ramp),
    "qcodes Keithley2400 snapshot": ("qcodes", "keithley2400", _qcodes_2400_snapshot),
    "qcodes Keithley2450 sweep": ("qcodes", "keithley2450", _qcodes_2450("sweep")),
    "qcodes Keithley2450 snapshot": ("qcodes", "keithley2450", _qcodes_2450("snapshot")),
    "qcodes Keithley2602B": ("qcodes", "keithley2600", _qcodes_2602b("measure")),
    "qcodes Keithley2602B snapshot": ("qcodes", "keithley2600", _qcodes_2602b("snapshot")),
    "qcodes Keithley2602B fastsweep": ("qcodes", "keithley2600", _qcodes_2602b("sweep")),
    "keithley2600 package": ("keithley2600", "keithley2600", _keithley2600("measure")),
    "keithley2600 package sweep": ("keithley2600", "keithley2600", _keithley2600("sweep")),
}  # fmt: skip

#: (client, failing operation, pattern of its message) -> the peer's bug
PEER_BUGS: list[tuple[str, str, str, str]] = [
    (
        "pymeasure Keithley2450 buffer",
        "buffer",
        "Timed out|waited",
        "pymeasure 0.16 Keithley2450 inherits the 2400's KeithleyBuffer: it sends "
        ":STAT:MEAS:ENAB and :TRAC:FEED (2400 commands the 2450 does not have: -113), asks "
        "for a 3-point buffer (2450 buffers hold at least 10: -222) and waits for *STB? bit 0, "
        "a 2400 measurement-summary bit the 2450's status byte never sets; its means then "
        "index the single mean :TRACe:STATistics:AVERage? returns as a list",
    ),
    (
        "qcodes Keithley2450 snapshot",
        "errors",
        "Undefined header",
        "QCoDeS 0.58 Keithley2450 snapshot asks ':SOURce:<f>:DELay:USERNone?' and "
        "':SENSe:<f>:DELay:USERNone?' (a Python None formatted into the USER<n> header); no "
        "2450 header has that form, so each queues -113",
    ),
    (
        "qcodes Keithley2602B fastsweep",
        "measure",
        "UnicodeDecodeError",
        "QCoDeS 0.58 Keithley2600 fastsweep script ends with format.data = format.REAL32 and "
        "never restores ASCII; the driver's next print() query gets binary it cannot decode",
    ),
    (
        "keithley2600 package sweep",
        "sweep",
        "KeyError: 1",
        "keithley2600 2.1.0 voltage_sweep_single_smu indexes trigger.blender[1] only when the "
        "table's metatable field 'luatype' (firmware internals, not in the 2600B reference "
        "manual) says it is indexable; getmetatable() of a documented object is nil here",
    ),
]


def attribute(client: str, ops: dict[str, str]) -> str | None:
    """The peer bug that explains a pair's failed operations, or None."""
    for name, op, pattern, bug in PEER_BUGS:
        if name == client and op in ops and re.search(pattern, ops[op]):
            return bug
    return None
