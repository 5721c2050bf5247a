"""What each SMU model family accepts, from its manual: the integration time (NPLC) range and
the largest current its compliance (limit) and measure range take. A setting beyond them is
refused by the instrument (``-222 Data out of range``) mid-configure, after other settings
went in; checking it when the station file loads names the key instead.

Sources:

- Keithley 2400 Series SourceMeter User's Manual, section 18 (SCPI command reference):
  ``[:SENSe]:CURRent:NPLCycles`` 0.01 to 10; ``[:SENSe]:CURRent:PROTection`` and
  ``[:SENSe]:CURRent:RANGe`` up to 1.05 A; section 6, compliance limits: a voltage
  source limits current from 1 nA to 1.05 A.
- Keithley 2450 Reference Manual, section 14 (SCPI command reference):
  ``[:SENSe]:CURRent:NPLCycles`` 0.01 to 10; ``:SOURce:VOLTage:ILIMit`` 1 nA to 1.05 A.
- Keithley Series 2600B Reference Manual, section 11 (TSP command reference):
  ``smuX.measure.nplc`` 0.001 to 25; ``smuX.source.limiti`` up to 3 A (2601B/2602B/2604B
  ranges; the 2611B-2636B families stop lower, which their instruments refuse).
- Keysight B2900 SCPI Command Reference: ``[:SENSe]:CURRent[:DC]:NPLCycles`` 4E-4 to 100
  (50 Hz line; 120 at 60 Hz); ``[:SENSe]:CURRent[:DC]:PROTection`` up to 3.03 A.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class ModelBounds:
    """Settings an SMU model family accepts.

    Attributes:
        nplc: smallest and largest integration time (power-line cycles).
        max_current: largest current compliance and measure range (A).
        min_compliance: smallest current compliance (A); 0 where the family's smallest
            differs by model (the 2600B: 10 nA on a 2602B, lower on a 2636B).
    """

    nplc: tuple[float, float]
    max_current: float
    min_compliance: float = 0.0


BOUNDS = {
    "keithley2400": ModelBounds((0.01, 10.0), 1.05, min_compliance=1e-9),
    "keithley2450": ModelBounds((0.01, 10.0), 1.05, min_compliance=1e-9),
    "keithley2600": ModelBounds((0.001, 25.0), 3.0),
    "keysight_b2900": ModelBounds((4e-4, 100.0), 3.03),
}
"""Per driver name (the station file's ``driver``)."""


def model_problem(
    driver: str, nplc: float, compliance: float, current_range: float | None
) -> tuple[str, str] | None:
    """``(setting, problem)`` for the first setting the ``driver``'s model family does not
    accept (``nplc``, ``compliance`` A, ``current_range`` A or None for autorange), or None
    (also for a driver without bounds here)."""
    bounds = BOUNDS.get(driver)
    if bounds is None:
        return None
    lo, hi = bounds.nplc
    if not lo <= nplc <= hi:
        return "nplc", f"= {nplc:g} is outside what a {driver} integrates ({lo:g}..{hi:g} NPLC)"
    if compliance < bounds.min_compliance:
        return (
            "compliance",
            f"= {compliance:g} A is below the smallest a {driver} takes "
            f"({bounds.min_compliance:g} A); allowed: {bounds.min_compliance:g} to "
            f"{bounds.max_current:g} A",
        )
    for key, value in (("compliance", compliance), ("current_range", current_range)):
        if value is not None and value > bounds.max_current:
            return (
                key,
                f"= {value:g} A is above the largest a {driver} takes ({bounds.max_current:g} A)",
            )
    return None
