"""Open a station's SMU found in a hostile state and judge what the driver made of it.

For one SMU driver and one start state of the virtual lab (:data:`mtj_hil.sim.lab.START_STATES`)
:func:`try_hostile_start` starts a virtual lab whose SMU speaks that driver's dialect and was
left in that state, opens the station through the real drivers (known state on open, then the
sense SMU's output on), reads input line ``row`` of an array through the SMU path, runs a list
sweep, checks that a forced compliance is flagged, and shuts down. The outcome is one of:

* ``known state`` - opened, every reading equal to the die's physics, shut down confirmed off;
* ``refused: ...`` - the open refused with an InstrumentError naming the setting (acceptable:
  nothing unsafe happened and the user was told why);
* ``unsafe: ...`` - something reached the terminals that must not: a current source with the
  output on, a voltage beyond the envelope that was not a ramp down from the found level, or
  an output still on after shutdown;
* ``wrong reading: ...`` - a reading differs from the die's physics, or compliance went unflagged.

Judged on the virtual instrument's own record (``history``) of what reached its terminals.
"""

from __future__ import annotations

import logging
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from mtj_hil.errors import ConfigError
from mtj_hil.instruments.errors import InstrumentError
from mtj_hil.sim.lab import START_STATES
from mtj_hil.sim.lab.lab import LabImperfections, VirtualLab
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict

__all__ = ["HostileOutcome", "STATION", "try_hostile_start", "starts_for"]

log = logging.getLogger(__name__)

STATION = Path(__file__).resolve().parents[2] / "stations" / "virtual-lab.toml"
ARRAY, ROW, VOLTS = 1, 5, 0.1


@dataclass
class HostileOutcome:
    """What happened to one (driver, start state) pair."""

    driver: str
    start: str
    outcome: str = "known state"
    details: list[str] = field(default_factory=list)

    @property
    def unsafe(self) -> bool:
        return self.outcome.startswith("unsafe")

    @property
    def wrong(self) -> bool:
        return self.outcome.startswith("wrong reading")

    @property
    def refused(self) -> bool:
        return self.outcome.startswith("refused")


def starts_for(driver: str) -> list[str]:
    """The start states a driver's dialect can be found in."""
    return [s for s in START_STATES if s != "tsp-language" or driver == "keithley2450"]


def _station(driver: str, lab: VirtualLab) -> dict:
    data = tomllib.loads(STATION.read_text())
    data["station"]["read_path"] = "smu"
    data["controller"]["url"] = lab.controller_url
    data["smu"]["sense"].update(driver=driver, resource=lab.smu_resource)
    del data["virtual_lab"], data["calibration"]
    return data


def _judge_history(history: list, envelope_v: float, found_v: float) -> str | None:
    """Why the terminals saw something unsafe after the driver took over, or None.

    A voltage beyond the envelope is tolerated only while it ramps down from the level the
    instrument was found at (``found_v``); any rise beyond the envelope, and any non-voltage
    source with the output on, is unsafe.
    """
    previous = abs(found_v)
    for entry in history:
        if entry.output and entry.function != "VOLT":
            return f"a {entry.function} source with the output on"
        terminal = abs(entry.terminal) if entry.output else 0.0
        if terminal > envelope_v * (1 + 1e-9) and terminal > previous + 1e-12:
            return f"{terminal:g} V on the terminals (envelope {envelope_v:g} V)"
        previous = terminal
    return None


def try_hostile_start(
    driver: str, start: str, *, lot_seed: int = 0, die: int = 3
) -> HostileOutcome:
    """Open, read, sweep, force compliance and shut down one SMU found in ``start``."""
    result = HostileOutcome(driver, start)
    lab = VirtualLab(
        "1t1r-20k",
        lot_seed,
        die,
        smu_dialect=driver,
        smu_start=start,
        imperfections=LabImperfections.ideal(),
    )
    with lab:
        smu = lab.smu
        first = len(smu.history)
        found = smu.terminal_voltage if smu.output else 0.0
        station = station_from_dict(_station(driver, lab), STATION)
        envelope_v = max(station.envelope.max_read_voltage, 0.0)
        try:
            with open_station(station, apply_calibration=False) as chip:
                _exercise(chip, lab, result)
        except (InstrumentError, ConfigError) as exc:
            if result.outcome == "known state":
                result.outcome = f"refused: {exc}"
        unsafe = _judge_history(list(smu.history[first:]), envelope_v, found)
        if unsafe is not None:
            result.outcome = f"unsafe: {unsafe}"
        elif abs(found) > envelope_v:
            result.details.append(f"found {found:g} V on the terminals, brought to 0 V")
        if smu.output:
            result.outcome = "unsafe: output still on after shutdown"
    return result


def _exercise(chip: object, lab: VirtualLab, result: HostileOutcome) -> None:
    vectors = np.zeros((1, 25))
    vectors[0, ROW] = VOLTS
    currents = chip.read(ARRAY, vectors)[0]  # type: ignore[attr-defined]
    die = lab.die
    rd = die.profile.read
    truth = VOLTS * die.effective_conductance(ARRAY)[ROW]
    if rd.offset_sigma > 0:
        truth = truth + die.sense_offset[ARRAY]
    # the die's own read noise (5 sigma) and converter step are physics, not driver errors
    tol = 5 * np.hypot(rd.noise_rel * truth, rd.noise_abs)
    if rd.adc_bits:
        tol = tol + rd.adc_full_scale / 2**rd.adc_bits
    ok = np.abs(currents - truth) <= tol
    if not ok.all():
        j = int(np.flatnonzero(~ok)[0])
        result.outcome = (
            f"wrong reading: output line {j} read {currents[j]:.6g} A, die gives {truth[j]:.6g} A"
        )
        return
    sense = chip.smus["sense"]  # type: ignore[attr-defined]
    single = sense.measure_current()
    sweep = sense.sweep_voltages([0.0, 0.0, 0.0])
    spread = 10 * np.hypot(rd.noise_rel * single.current, rd.noise_abs)  # two noisy reads
    if not all(r.trustworthy and abs(r.current - single.current) <= spread for r in sweep):
        result.outcome = f"wrong reading: sweep {[r.current for r in sweep]} vs {single.current}"
        return
    lab.smu.force_compliance(1)
    forced = sense.measure_current()
    if not forced.compliance:
        result.outcome = "wrong reading: a forced compliance was not flagged"
        return
    result.details.append(f"{int(ok.sum())} lines read equal to the die; sweep and compliance ok")
