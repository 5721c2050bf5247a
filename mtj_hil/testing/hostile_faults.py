"""Faults mid-run: an instrument reset, power-cycled, tripped, replaced or re-set while a run
reads through it, and what reached the run.

:func:`try_midrun` opens a station whose sense SMU (of one driver, found at power-on) is
served by the virtual lab, reads one input line and "records" it the way a job does (the
chip's instruments are verified before each array is saved), injects one fault of
:data:`FAULTS`, then goes on reading (the same array, then the next one) and recording. The
outcome is:

* ``stopped: ...`` - an InstrumentError (exit 7) ended the run, naming what happened, and
  nothing read after the fault was recorded (the expected outcome);
* ``wrong reading: ...`` - something read after the fault was recorded, or a reading before
  it differs from the die;
* ``unsafe: ...`` - as for hostile starts, up to the fault (what the fault itself puts on
  the terminals is not the driver's doing), or an output still on after shutdown.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict
from mtj_hil.testing.hostile_judge import judge_history
from mtj_hil.testing.hostile_start import (
    ARRAY,
    ROW,
    STATION,
    HostileOutcome,
    _expected,
    _lab,
    _station,
    _truth,
    read_row,
)

__all__ = ["FAULTS", "faults_for", "try_midrun"]

_OUTPUT_OFF = {
    "keithley2400": ":OUTP OFF",
    "keithley2450": ":OUTP OFF",
    "keithley2600": "smua.source.output = smua.OUTPUT_OFF",
    "keysight_b2900": ":OUTP1 OFF",
}
_OTHER_IDN = {
    "keithley2400": "KEITHLEY INSTRUMENTS INC.,MODEL 2410,4099999,C32",
    "keithley2450": "KEITHLEY INSTRUMENTS,MODEL 2450,04599999,1.7.12b",
    "keithley2600": "Keithley Instruments Inc., Model 2602B, 4199999, 3.2.2",
    "keysight_b2900": "Keysight Technologies,B2902A,MY59999999,3.4.2011.5100",
}

Inject = Callable[[Any, str], None]

#: fault name -> (dialects it applies to, or None for all; what it does to the instrument)
FAULTS: dict[str, tuple[tuple[str, ...] | None, Inject]] = {
    "reset mid-read": (None, lambda smu, d: smu.event_after(3, "reset")),
    "power cycle mid-read": (None, lambda smu, d: smu.event_after(3, "power-cycle")),
    "reset mid-sweep": (None, lambda smu, d: smu.event_after(1, "reset")),
    "over-temperature trip": (None, lambda smu, d: smu.trip("over-temperature")),
    "interlock opened": (("keithley2400", "keithley2450"), lambda smu, d: smu.trip("interlock")),
    "another instrument answers": (None, lambda smu, d: smu.respond_as(_OTHER_IDN[d])),
    "setting changed": (None, lambda smu, d: smu.execute(smu.START_LINES["short-integration"][0])),
    "output switched off": (None, lambda smu, d: smu.execute(_OUTPUT_OFF[d])),
    "unused channel starts sourcing current": (
        ("keithley2600", "keysight_b2900"),
        lambda smu, d: [smu.execute(line) for line in smu.START_LINES["other-channel-current"]],
    ),
}


def faults_for(driver: str) -> list[str]:
    """The mid-run faults that apply to ``driver``'s instrument."""
    return [name for name, (only, _) in FAULTS.items() if only is None or driver in only]


def try_midrun(driver: str, fault: str, *, lot_seed: int = 0, die: int = 3) -> HostileOutcome:
    """Read, record, inject ``fault``, read and record again; judge what was recorded."""
    result = HostileOutcome(driver, fault)
    _, inject = FAULTS[fault]
    with _lab(driver, "power-on", lot_seed, die) as lab:
        smu = lab.smu
        first = len(smu.history)
        station = station_from_dict(_station(driver, lab), STATION)
        exp = _expected(station)
        recorded_after = 0
        fault_at = len(smu.history)
        try:
            with open_station(station, apply_calibration=False, sleep=lab.clock.advance) as chip:
                before = read_row(chip, ARRAY, ROW)
                chip.verify_instruments()  # the job's check before it saves an array
                truth, tol = _truth(lab, ARRAY, ROW)
                if not np.all(np.abs(before - truth) <= tol):
                    result.outcome = "wrong reading: before the fault"
                fault_at = len(smu.history)
                inject(smu, driver)
                if fault.endswith("mid-sweep"):
                    chip.smus["sense"].sweep_voltages([0.0, 0.0, 0.0])
                read_row(chip, ARRAY, ROW + 1)  # same array: no boundary in between
                read_row(chip, ARRAY + 1, ROW)  # the next array
                chip.verify_instruments()
                recorded_after += 1
        except InstrumentError as exc:
            if result.outcome == "known state":
                result.outcome = f"stopped: {exc}"
        if recorded_after:
            result.outcome = f"wrong reading: readings after '{fault}' were recorded"
        # what the fault itself put on the terminals is not the driver's doing
        unsafe = judge_history(list(smu.history[first:fault_at]), exp.envelope_v, {})
        if unsafe is not None:
            result.outcome = f"unsafe: {unsafe}"
        if smu.output:
            result.outcome = "unsafe: output still on after shutdown"
    return result
