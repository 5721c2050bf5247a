"""The 2450's sweeps stop at the source limit unless told not to (``failAbort``, ON by
default: 2450 Reference Manual, ``:SOURce[1]:SWEep:<function>:LIST`` and ``:LINear``)."""

from __future__ import annotations

from mtj_hil.sim.lab import make_virtual_smu


def _swept(line: str) -> int:
    """Points in defbuffer1 after ``line`` swept 0..0.5 V into 1 kohm with a 200 uA limit."""
    inst = make_virtual_smu("keithley2450", lambda volts: volts / 1e3)
    inst.handle(":SOUR:VOLT:ILIM 2e-4;:OUTP ON;:SOUR:LIST:VOLT 0,0.1,0.2,0.3,0.4,0.5")
    inst.handle(line)
    inst.handle(":INIT")
    assert inst.errors() == []
    return int(inst.handle(":TRAC:ACT?"))


def test_a_list_sweep_stops_at_the_limit_by_default():
    assert _swept(":SOUR:SWE:VOLT:LIST 1, 0") == 4  # 0.3 V draws 300 uA: the last point
    assert _swept(":SOUR:SWE:VOLT:LIST 1, 0, 1, ON") == 4
    assert _swept(":SOUR:SWE:VOLT:LIST 1, 0, 1, OFF") == 6


def test_a_linear_sweep_stops_at_the_limit_by_default():
    assert _swept(":SOUR:SWE:VOLT:LIN 0, 0.5, 6") == 4
    assert _swept(":SOUR:SWE:VOLT:LIN 0, 0.5, 6, -1, 1, BEST, OFF") == 6


def test_our_driver_gets_every_point_of_a_sweep_into_the_limit():
    """Our driver asks for every point (failAbort OFF): those at the limit come back
    flagged; with the default an aborted sweep left the buffer short and the read-back
    failed."""
    from mtj_hil.instruments.smu.keithley2450 import Keithley2450
    from mtj_hil.sim.lab import LineServer

    inst = make_virtual_smu("keithley2450", lambda volts: volts / 1e3)
    with LineServer(inst.handle, name="virtual-2450") as server:
        smu = Keithley2450(server.resource, visa_library="@py", read_termination="\n",
                           write_termination="\n", timeout=2000)  # fmt: skip
        try:
            smu.write(":SOUR:VOLT:ILIM 2e-4;:OUTP ON")
            readings = smu.sweep_voltages([0.0, 0.1, 0.2, 0.3, 0.4, 0.5])
            smu.write(":OUTP OFF")
        finally:
            smu.adapter.close()
    assert [r.compliance for r in readings] == [False, False, False, True, True, True]
    assert inst.errors() == []
