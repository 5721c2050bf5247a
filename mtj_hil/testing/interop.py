"""Interoperability runs: other projects' unmodified SMU drivers against the virtual lab.

Each *client* (pymeasure's and QCoDeS's drivers, and this project's own) is paired with the
virtual instrument of the model it was written for. A run routes one device of the die to the
SMU through the virtual board, lets the client open the instrument, source a voltage and measure,
read the error queue and shut down, and checks the measured current against the die's physics
(the board's :meth:`~mtj_hil.sim.lab.board.VirtualBoard.smu_current`, the same load the virtual
SMU measures) with ideal instruments, so the only difference allowed is the reply's rounding.
Client libraries are imported lazily; a missing one reports ``missing: <module>``.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import math
import statistics
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from time import sleep as _real_sleep
from typing import Any
from unittest import mock

from mtj_hil.sim.lab.lab import LabImperfections, VirtualLab
from mtj_hil.testing.interop_clients import CLIENT_TIMEOUT_MS, MORE_CLIENTS, VISA, attribute

__all__ = ["CLIENTS", "Client", "PairResult", "run_pair"]

#: Device routed to the SMU (array, row, column) and the voltage sourced (V).
DEVICE = (3, 12, 7)
VOLTAGE = 0.1
#: A reading must lie within this many standard deviations of the die's read noise.
SIGMAS = 5.0

Step = Callable[[str, Callable[[], Any]], Any]


@dataclass
class PairResult:
    """One client against one virtual instrument: operation -> ``"ok"`` or the error text."""

    client: str
    dialect: str
    ops: dict[str, str] = field(default_factory=dict)
    #: the peer bug a failure comes from (see ``interop_clients.PEER_BUGS``), if known
    fault: str | None = None

    @property
    def ok(self) -> bool:
        """Every operation succeeded."""
        return bool(self.ops) and all(v == "ok" for v in self.ops.values())

    @property
    def missing(self) -> str | None:
        """The client library that is not installed (the pair was not tried), or None."""
        outcome = self.ops.get("open", "")
        return outcome.removeprefix("missing: ") if outcome.startswith("missing: ") else None


@dataclass(frozen=True)
class Client:
    """A third-party (or our own) driver: the module it needs, its dialect, its script."""

    module: str
    dialect: str
    script: Callable[[str, Step, Callable[[float], None]], None]


def _agree(expected: tuple[float, float]) -> Callable[[float], None]:
    mean, sigma = expected
    tolerance = SIGMAS * sigma + 1e-6 * abs(mean)  # + the replies' rounding

    def check(value: float) -> None:
        if not math.isfinite(float(value)) or abs(float(value) - mean) > tolerance:
            raise AssertionError(
                f"read {float(value):.6g} A, the die gives {mean:.6g} +- {sigma:.2g} A"
            )

    return check


def _no_errors(errors: Any) -> None:
    if errors:
        raise AssertionError(f"error queue: {errors}")


# ------------------------------------------------------------------------------ client scripts


def _pymeasure_keithley(
    model: str,
    configure: Callable[[Any], None],
    part: Callable[[Any], Any] = lambda smu: smu,
) -> Callable[[str, Step, Callable[[float], None]], None]:
    """Script for pymeasure's Keithley driver ``model`` (``"Keithley2400"``...): open,
    ``configure`` the source-measure ``part(smu)`` (the instrument, or a 2600 channel), read
    its ``current``, drain the instrument's error queue, shut the part down."""

    def script(resource: str, step: Step, check: Callable[[float], None]) -> None:
        driver = getattr(importlib.import_module("pymeasure.instruments.keithley"), model)
        smu = step("open", lambda: driver(resource, **VISA))
        if smu is None:
            return
        ch = part(smu)
        step("configure", lambda: configure(ch))
        step("measure", lambda: check(ch.current))
        step("errors", lambda: _no_errors(smu.check_errors()))
        step("shutdown", lambda: (ch.shutdown(), smu.ask("*OPC?")))
        smu.adapter.close()

    return script


def _configure_pymeasure_2400(smu: Any) -> None:
    smu.reset()
    smu.source_mode = "voltage"
    smu.compliance_current = 1e-3
    smu.current_nplc = 1
    smu.source_voltage = VOLTAGE
    smu.enable_source()


def _configure_pymeasure_2450(smu: Any) -> None:
    smu.apply_voltage(compliance_current=1e-3)
    smu.measure_current(nplc=1)
    smu.source_voltage = VOLTAGE
    smu.enable_source()


def _configure_pymeasure_2600(ch: Any) -> None:
    ch.apply_voltage(compliance_current=1e-3)
    ch.measure_current(nplc=1)
    ch.source_voltage = VOLTAGE
    ch.source_output = "ON"


_pymeasure_2400 = _pymeasure_keithley("Keithley2400", _configure_pymeasure_2400)
_pymeasure_2450 = _pymeasure_keithley("Keithley2450", _configure_pymeasure_2450)
_pymeasure_2600 = _pymeasure_keithley(
    "Keithley2600", _configure_pymeasure_2600, part=lambda smu: smu.ChA
)


def _qcodes_keithley(
    model: str,
    name: str,
    configure: Callable[[Any], None],
    current: Callable[[Any], float],
    output_off: Callable[[Any], None],
) -> Callable[[str, Step, Callable[[float], None]], None]:
    """Script for QCoDeS's Keithley driver ``model`` (instrument ``name``): open,
    ``configure``, read ``current(smu)``, drain the SCPI error queue, ``output_off``, close."""

    def script(resource: str, step: Step, check: Callable[[float], None]) -> None:
        driver = getattr(importlib.import_module("qcodes.instrument_drivers.Keithley"), model)
        smu = step(
            "open",
            lambda: driver(name, resource, visalib="@py", timeout=CLIENT_TIMEOUT_MS / 1000),
        )
        if smu is None:
            return
        try:
            step("configure", lambda: configure(smu))
            step("measure", lambda: check(current(smu)))
            step("errors", lambda: _no_errors(_scpi_errors(smu.ask)))
            step("shutdown", lambda: (output_off(smu), smu.ask("*OPC?")))
        finally:
            smu.close()

    return script


def _configure_qcodes_2450(smu: Any) -> None:
    smu.source_function("voltage")
    smu.sense_function("current")
    smu.source.limit(1e-3)
    smu.source.voltage(VOLTAGE)
    smu.output_enabled(True)


def _configure_qcodes_2400(smu: Any) -> None:
    smu.mode("VOLT")
    smu.compliancei(1e-3)
    smu.volt(VOLTAGE)
    smu.output(True)


_qcodes_2450 = _qcodes_keithley(
    "Keithley2450",
    "k2450",
    _configure_qcodes_2450,
    current=lambda smu: smu.sense.current(),
    output_off=lambda smu: smu.output_enabled(False),
)
_qcodes_2400 = _qcodes_keithley(
    "Keithley2400",
    "k2400",
    _configure_qcodes_2400,
    current=lambda smu: smu.curr(),
    output_off=lambda smu: smu.output(False),
)


def _scpi_errors(ask: Callable[[str], str]) -> list[str]:
    found = []
    for _ in range(20):
        reply = ask(":SYST:ERR?")
        if int(float(reply.split(",")[0])) == 0:
            break
        found.append(reply)
    return found


def _ours(dialect: str) -> Callable[[str, Step, Callable[[float], None]], None]:
    def script(resource: str, step: Step, check: Callable[[float], None]) -> None:
        from mtj_hil.station.config import SmuConfig
        from mtj_hil.station.smu import make_smu

        config = SmuConfig(name="sense", driver=dialect, resource=resource)
        smu = step("open", lambda: make_smu(config, resource))
        if smu is None:
            return

        def configure() -> None:
            from mtj_hil.instruments.smu.known_state import SmuSettings

            state = smu.configure(
                SmuSettings(max_voltage=VOLTAGE, compliance=1e-3, nplc=1, line_frequency=60.0)
            )
            if not state.ok:
                raise RuntimeError("; ".join(state.problems()))
            smu.source_voltage = VOLTAGE
            smu.enable_output()

        step("configure", configure)
        step("measure", lambda: check(smu.measure_current().current))
        step("sweep", lambda: [check(r.current) for r in smu.sweep_voltages([VOLTAGE] * 3)])
        step("errors", lambda: _no_errors(smu.errors()))
        step("shutdown", smu.shutdown)

    return script


#: Client name -> what it needs and does.
CLIENTS: dict[str, Client] = {
    "pymeasure Keithley2400": Client("pymeasure", "keithley2400", _pymeasure_2400),
    "pymeasure Keithley2450": Client("pymeasure", "keithley2450", _pymeasure_2450),
    "pymeasure Keithley2600": Client("pymeasure", "keithley2600", _pymeasure_2600),
    "qcodes Keithley2450": Client("qcodes", "keithley2450", _qcodes_2450),
    "qcodes Keithley2400": Client("qcodes", "keithley2400", _qcodes_2400),
    "mtj-hil keithley2400": Client("instruments", "keithley2400", _ours("keithley2400")),
    "mtj-hil keithley2450": Client("instruments", "keithley2450", _ours("keithley2450")),
    "mtj-hil keithley2600": Client("instruments", "keithley2600", _ours("keithley2600")),
    "mtj-hil keysight_b2900": Client("instruments", "keysight_b2900", _ours("keysight_b2900")),
}
CLIENTS.update({name: Client(*spec) for name, spec in MORE_CLIENTS.items()})


@contextlib.contextmanager
def _routed_lab(dialect: str, start: str) -> Iterator[tuple[VirtualLab, tuple[float, float]]]:
    """A lab with ideal instruments and :data:`DEVICE` routed to the SMU; also the die's
    current at :data:`VOLTAGE` (mean and read-noise standard deviation, A)."""
    from mtj_hil.instruments.controller import ChipController

    array, row, col = DEVICE
    with VirtualLab(
        "1t1r-20k", 0, 7, smu_dialect=dialect, smu_start=start,
        imperfections=LabImperfections.ideal(),
    ) as lab:  # fmt: skip
        board = ChipController(lab.controller_url, timeout=1.0)
        try:
            board.select_array(array)
            board.enable_lines([row], [col])
            board.route("SMU", smu_line=col, input_source="SMU")  # row -> HI, column -> LO
            samples = [lab.board.smu_current(VOLTAGE) for _ in range(400)]
            yield lab, (statistics.fmean(samples), statistics.stdev(samples))
        finally:
            board.reset()
            board.close()


def _settles_off(lab: VirtualLab, wait: float = 2.0) -> bool:
    """Writes are not answered: give the server a moment to work through the last ones."""
    import time

    deadline = time.monotonic() + wait
    while lab.smu.output and time.monotonic() < deadline:
        _real_sleep(0.005)
    return not lab.smu.output


def run_pair(name: str, *, start: str = "power-on") -> PairResult:
    """Run client ``name`` (a key of :data:`CLIENTS`) against its virtual instrument.

    Never raises for a client failure: each operation's outcome is recorded.

    :raises KeyError: an unknown client name.
    """
    client = CLIENTS[name]
    result = PairResult(name, client.dialect)
    if importlib.util.find_spec(client.module) is None:
        result.ops["open"] = f"missing: {client.module}"
        return result

    def step(op: str, fn: Callable[[], Any]) -> Any:
        try:
            value = fn()
        except Exception as exc:  # noqa: BLE001 - recorded, the matrix shows it
            text = " ".join(str(exc).split()) or type(exc).__name__
            result.ops[op] = f"{type(exc).__name__}: {text}"[:160]
            return None
        result.ops[op] = "ok"
        return value if value is not None else True

    polls = [0]

    def no_wait(seconds: float = 0.0) -> None:  # a client polling forever is stopped
        polls[0] += 1
        if polls[0] > 2000:
            polls[0] = 0  # the next wait gets a budget of its own
            raise TimeoutError("the client waited 2000 times for something that never came")

    with mock.patch("time.sleep", no_wait), _routed_lab(client.dialect, start) as (lab, expected):
        client.script(lab.smu_resource, step, _agree(expected))
        if result.ops.get("shutdown") == "ok" and not _settles_off(lab):
            result.ops["shutdown"] = "output still on"
    if not result.ok:
        result.fault = attribute(name, result.ops)
    return result
