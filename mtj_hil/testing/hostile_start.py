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
from mtj_hil.instruments.errors import InstrumentError, InstrumentStateLost
from mtj_hil.sim.lab.lab import LabImperfections, VirtualLab
from mtj_hil.sim.lab.smu.dialects import starts_of
from mtj_hil.station.connect import open_station
from mtj_hil.station.files import station_from_dict
from mtj_hil.testing.hostile_judge import Expected, judge_history, judge_points

__all__ = ["HostileOutcome", "STATION", "starts_for", "try_hostile_start"]

log = logging.getLogger(__name__)

STATION = Path(__file__).resolve().parents[2] / "stations" / "virtual-lab.toml"
ARRAY, ROW, VOLTS = 1, 5, 0.1
#: NPLC the bench station asks (no model's reset value, so the driver must set it)
BENCH_NPLC = 2.0
SMU_TIMEOUT = 2.0
"""s: the SMU's base I/O timeout here. The virtual SMU answers within milliseconds, and a
fault that leaves a query unanswered (a reset 2400 never answers ``:READ?``) is waited out
for it, so the 5 s a real bench is given would only make every such case 5 s long."""


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
    return starts_of(driver)


def _station(driver: str, lab: VirtualLab) -> dict:
    data = tomllib.loads(STATION.read_text(encoding="utf-8"))
    data["station"]["read_path"] = "smu"
    data["controller"]["url"] = lab.controller_url
    data["smu"]["sense"].update(
        driver=driver, resource=lab.smu_resource, nplc=BENCH_NPLC, timeout=SMU_TIMEOUT
    )
    del data["virtual_lab"], data["calibration"]
    return data


def _lab(driver: str, start: str, lot_seed: int, die: int) -> VirtualLab:
    return VirtualLab(
        "1t1r-20k",
        lot_seed,
        die,
        smu_dialect=driver,
        smu_start=start,
        imperfections=LabImperfections.ideal(),
    )


def _expected(station: object) -> Expected:
    cfg = station.smu("sense")  # type: ignore[attr-defined]
    return Expected(
        envelope_v=max(station.envelope.max_read_voltage, 0.0),  # type: ignore[attr-defined]
        compliance=cfg.compliance,
        nplc=cfg.nplc,
        current_range=cfg.current_range,
        line_frequency=station.line_frequency,  # type: ignore[attr-defined]
    )


def judge_case(
    smu: object, first: int, found: dict[str, float], exp: Expected, result: HostileOutcome
) -> None:
    """Judge the instrument's records after the case ran (module docstring)."""
    unsafe = judge_history(list(smu.history[first:]), exp.envelope_v, found)  # type: ignore[attr-defined]
    points = [p for name, p in smu.measured if name == smu.main.name]  # type: ignore[attr-defined]
    verdict = judge_points(points, exp, type(smu))
    if unsafe is not None:
        result.outcome = f"unsafe: {unsafe}"
    elif verdict is not None and not result.wrong:
        result.outcome = f"{verdict[0]}: {verdict[1]}"
    if smu.output:  # type: ignore[attr-defined]
        result.outcome = "unsafe: output still on after shutdown"


def try_hostile_start(
    driver: str, start: str, *, lot_seed: int = 0, die: int = 3
) -> HostileOutcome:
    """Open, read, sweep, force compliance and shut down one SMU found in ``start``."""
    result = HostileOutcome(driver, start)
    with _lab(driver, start, lot_seed, die) as lab:
        smu = lab.smu
        first = len(smu.history)
        found = {name: ch.terminal_voltage() for name, ch in smu.channels.items()}
        station = station_from_dict(_station(driver, lab), STATION)
        exp = _expected(station)
        try:
            with open_station(station, apply_calibration=False, sleep=lab.clock.advance) as chip:
                live = [
                    n for n, ch in smu.channels.items() if ch is not smu.main and ch.state.output
                ]
                if live:
                    result.outcome = f"unsafe: channel {live[0]} left live after open"
                else:
                    _exercise(chip, lab, result)
        except (InstrumentError, ConfigError) as exc:
            if result.outcome == "known state":
                result.outcome = f"refused: {exc}"
        judge_case(smu, first, found, exp, result)
        if not result.unsafe and max(map(abs, found.values())) > exp.envelope_v:
            result.details.append("found a voltage beyond the envelope, brought to 0 V")
    return result


def _truth(lab: VirtualLab, array: int, row: int) -> tuple[np.ndarray, np.ndarray]:
    """The die's currents for input line ``row`` at :data:`VOLTS` and their tolerance (A)."""
    die = lab.die
    rd = die.profile.read
    # a 1T1R die with a bias law conducts G0 (1 + k V^2) at the read voltage (die.read)
    g = die.effective_conductance(array) if die.k_p is None else die.conductance_at(array, VOLTS)
    truth = VOLTS * g[row]
    if rd.offset_sigma > 0:
        truth = truth + die.sense_offset[array]
    # the die's own read noise (5 sigma) and converter step are physics, not driver errors
    tol = 5 * np.hypot(rd.noise_rel * truth, rd.noise_abs)
    if rd.adc_bits:
        tol = tol + rd.adc_full_scale / 2**rd.adc_bits
    return truth, tol


def read_row(chip: object, array: int, row: int) -> np.ndarray:
    """Read input line ``row`` of ``array`` at :data:`VOLTS` through the chip."""
    vectors = np.zeros((1, 25))
    vectors[0, row] = VOLTS
    return chip.read(array, vectors)[0]  # type: ignore[attr-defined,no-any-return]


def _exercise(chip: object, lab: VirtualLab, result: HostileOutcome) -> None:
    currents = read_row(chip, ARRAY, ROW)
    truth, tol = _truth(lab, ARRAY, ROW)
    ok = np.abs(currents - truth) <= tol
    if not ok.all():
        j = int(np.flatnonzero(~ok)[0])
        result.outcome = (
            f"wrong reading: output line {j} read {currents[j]:.6g} A, die gives {truth[j]:.6g} A"
        )
        return
    rd = lab.die.profile.read
    sense = chip.smus["sense"]  # type: ignore[attr-defined]
    single = sense.measure_current()
    sweep = sense.sweep_voltages([0.0, 0.0, 0.0])
    spread = 10 * np.hypot(rd.noise_rel * single.current, rd.noise_abs)  # two noisy reads
    if not all(r.trustworthy and abs(r.current - single.current) <= spread for r in sweep):
        result.outcome = f"wrong reading: sweep {[r.current for r in sweep]} vs {single.current}"
        return
    chip.verify_instruments()  # type: ignore[attr-defined]
    lab.smu.force_compliance(1)
    try:
        forced = sense.measure_current()
    except InstrumentStateLost as exc:  # output protection opened the relay (B2900)
        if "protection" not in str(exc):
            raise
        result.details.append("forced compliance: output protection switched the output off")
    else:
        if not forced.compliance:
            result.outcome = "wrong reading: a forced compliance was not flagged"
            return
    result.details.append(f"{int(ok.sum())} lines read equal to the die; sweep and compliance ok")
