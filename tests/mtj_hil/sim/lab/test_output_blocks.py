"""A tripped protection keeps the output off: switching it on again is refused with the
instrument's error, on every path that turns an output on."""

from __future__ import annotations

import pytest

from mtj_hil.sim.lab import SMU_DIALECTS, make_virtual_smu

ON = {
    "keithley2400": ":OUTP ON",
    "keithley2450": ":OUTP ON",
    "keithley2600": "smua.source.output = smua.OUTPUT_ON",
    "keysight_b2900": ":OUTP1 ON",
}
#: a measurement that turns the output on by itself where the model does (2400 :MEAS?,
#: B2900 :MEAS? with auto output-on)
AUTO_ON = {"keithley2400": ":MEAS:CURR?", "keysight_b2900": ":MEAS? (@1)"}


def _smu(dialect: str):
    return make_virtual_smu(dialect, lambda volts: volts / 1e3)


@pytest.mark.parametrize("dialect", SMU_DIALECTS)
def test_an_over_temperature_trip_keeps_every_output_off(dialect):
    inst = _smu(dialect)
    inst.handle(ON[dialect])
    assert inst.output
    inst.trip("over-temperature")
    assert not inst.output
    inst.handle(ON[dialect])
    assert not inst.output and not any(e.output for e in inst.history[-1:])
    codes = [code for code, _ in inst.errors()]
    assert codes == [810 if dialect == "keithley2400" else -200]
    if dialect in AUTO_ON:
        inst.handle(AUTO_ON[dialect])
        assert not inst.output and len(inst.errors()) == 2
    inst.power_cycle()
    inst.handle(ON[dialect])
    assert inst.output and inst.errors() == []


def test_the_2400_enabled_interlock_blocks_the_output_while_open():
    """2400 User's Manual section 18 "Interlock control", Table B-1 (+802)."""
    inst = _smu("keithley2400")
    inst.handle(":OUTP:INT:STAT ON")
    inst.trip("interlock")
    for line in (":OUTP ON", ":MEAS:CURR?"):
        inst.handle(line)
        assert not inst.output
    assert [code for code, _ in inst.errors()] == [802, 802]
    plain = _smu("keithley2400")  # interlock not enabled: an open line gates nothing
    plain.trip("interlock")
    plain.handle(":OUTP ON")
    assert plain.output and plain.errors() == []
