"""Shared by the virtual Keithley 2400 tests (test_scpi_smu*.py): a resistor load, the
``smu`` fixture and line helpers."""

from __future__ import annotations

import pytest

from mtj_hil.sim.lab import VirtualSMU

R_LOAD = 4.3e3  # ohm


def resistor(volts: float) -> float:
    return volts / R_LOAD


@pytest.fixture
def smu() -> VirtualSMU:
    return VirtualSMU(resistor)


def ask(smu: VirtualSMU, line: str) -> str:
    reply = smu.handle(line)
    assert reply is not None, f"no reply to {line!r}; errors {smu.errors()}"
    return reply


def read_points(smu: VirtualSMU) -> list[list[float]]:
    numbers = [float(x) for x in ask(smu, ":READ?").split(",")]
    width = len(smu.handle(":FORM:ELEM?").split(","))  # type: ignore[union-attr]
    return [numbers[i : i + width] for i in range(0, len(numbers), width)]


def drain(smu: VirtualSMU) -> list[str]:
    found = []
    while (reply := ask(smu, ":SYST:ERR?")) != '0,"No error"':
        found.append(reply)
    return found
