"""What a characterisation measures, with the one set of defaults that the library, the CLI and
the campaigns share, and the check that a plan fits the die before anything is applied."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import asdict, dataclass, replace
from typing import Any, Literal

from mtj_hil.errors import apart
from mtj_hil.protocols.chip import Layout, Pulse, check_array, check_write_pulse
from mtj_hil.protocols.defects.bias_signature import default_bias_voltage
from mtj_hil.protocols.errors import (
    InvalidRequest,
    SettingOutsideLimits,
    SettingRefused,
    Spell,
    plain_setting,
    refused_setting,
)
from mtj_hil.protocols.plan_values import check_plan_types, is_whole, make_plain
from mtj_hil.protocols.read import DEFAULT_READ_VOLTAGE, MIN_READ_VOLTAGE
from mtj_hil.protocols.resolution import refuse_unsettable

AUTO: Literal["auto"] = "auto"
"""``bias_read_voltage = AUTO``: the die's largest read voltage when it is at least twice the
read voltage (:func:`~mtj_hil.protocols.defects.bias_signature.default_bias_voltage`), else
off."""


@dataclass(frozen=True)
class CharacterizationPlan:
    """What to measure: arrays, write-read cycles, reads per state, read voltage (V), pulse.

    Attributes:
        arrays: arrays in measuring order; None = every array of the die.
        cycles: write-read cycles per state (a device is stuck only if it fails every one).
        reads: reads averaged per state and cycle.
        read_voltage: read voltage (V) on the selected input line.
        pulse: write pulse (None = the die's nominal pulse, escalated by write-verify).
        remeasure_cycles: extra verified write-read cycles for devices left UNCERTAIN
            (0 = none), for at most ``remeasure_budget`` of the die's devices.
        remeasure_rounds: rounds of those extra cycles at most; each round after the first
            takes the first round's devices still unsettled (1 = one round only).
        bias_read_voltage: second read voltage (V) for the bias signature; ``AUTO`` picks
            one from the die's limits, None (or 0) turns it off.
    """

    arrays: tuple[int, ...] | None = None
    cycles: int = 3
    reads: int = 1
    read_voltage: float = DEFAULT_READ_VOLTAGE
    pulse: Pulse | None = None
    remeasure_cycles: int = 3
    remeasure_budget: float = 0.03
    remeasure_rounds: int = 2
    bias_read_voltage: float | Literal["auto"] | None = AUTO

    def __post_init__(self) -> None:
        make_plain(self)  # numpy values as the Python ones a run file stores

    def resolved(self, layout: Layout) -> CharacterizationPlan:
        """This plan made concrete for a die: arrays listed, ``AUTO`` and 0 V resolved."""
        arrays = tuple(range(layout.n_arrays)) if self.arrays is None else tuple(self.arrays)
        bias = self.bias_read_voltage
        if bias == AUTO:
            bias = default_bias_voltage(layout, self.read_voltage)
        elif bias is not None and float(bias) == 0.0:
            bias = None
        return replace(self, arrays=arrays, bias_read_voltage=bias)


MAX_CYCLES = 100
"""Most write-read cycles per state a plan takes."""
MAX_READS = 1000
"""Most reads averaged per state and cycle."""
MAX_REMEASURE_CYCLES = 100
"""Most extra cycles of re-measurement per round."""
MAX_REMEASURE_ROUNDS = 10
"""Most rounds of re-measurement."""

DEFAULT_REMEASURE_ROUNDS = CharacterizationPlan.remeasure_rounds
"""Rounds of re-measurement of a plan whose user gave none."""
DEFAULT_REMEASURE_BUDGET = CharacterizationPlan.remeasure_budget
"""Share of the devices re-measured at most, of a plan whose user gave none."""


def check_remeasure(
    remeasure_cycles: int,
    remeasure_rounds: int,
    *,
    given: Collection[str] = (),
    spell: Spell = plain_setting,
    remeasure_budget: float = DEFAULT_REMEASURE_BUDGET,
) -> None:
    """Refuse ``remeasure_rounds`` or ``remeasure_budget`` given while ``remeasure_cycles``
    is 0: without re-measurement there are no rounds and no device is re-measured, so the
    setting would be ignored.

    Args:
        remeasure_cycles, remeasure_rounds, remeasure_budget: the plan's.
        given: which settings the user gave (not left at their defaults); leaving
            ``remeasure_rounds`` or ``remeasure_budget`` out is always fine, as is giving
            0 (none).
        spell: how a setting and its value are named in messages.

    Raises:
        SettingRefused (an ``InvalidRequest``, ``setting = "remeasure_rounds"`` or
        ``"remeasure_budget"``).
    """
    if remeasure_cycles == 0:
        for name, value, what in (
            ("remeasure_budget", remeasure_budget, "device would be re-measured"),
            ("remeasure_rounds", remeasure_rounds, "round would be measured"),
        ):
            if name in given and value != 0:
                raise SettingRefused(
                    name,
                    f"{spell(name, value)} works with re-measurement only; "
                    f"{spell('remeasure_cycles', 0)} turns re-measurement off, so no {what} "
                    f"(leave it out, or give "
                    f"{spell('remeasure_cycles', 1)} or more)",
                )


def check_plan(layout: Layout, plan: CharacterizationPlan) -> None:
    """Refuse a plan the die cannot take, naming the setting (nothing is applied).

    Raises:
        SettingRefused (an ``InvalidRequest``; ``setting`` names the plan's field): no
            arrays, an array off the die or planned twice, counts out of range, a read or
            bias voltage outside 0..the die's maximum read voltage, or a pulse (default:
            the die's nominal pulse) outside the die's pulse limits; ``remeasure_rounds``
            or ``remeasure_budget`` other than the default (or 0) with ``remeasure_cycles``
            0 (:func:`check_remeasure`).
    """
    check_plan_types(plan)  # before resolving, which reads the arrays and voltages
    plan = plan.resolved(layout)
    check_plan_types(plan)
    lim = layout.limits
    try:
        arrays = [check_array(layout, a) for a in plan.arrays or ()]
    except InvalidRequest as exc:
        raise SettingRefused("arrays", str(exc)) from None
    if not arrays:
        raise SettingRefused("arrays", "the characterisation plan names no arrays")
    if len(set(arrays)) != len(arrays):
        raise SettingRefused("arrays", f"the characterisation plan lists an array twice: {arrays}")
    for name, value, low, high in (
        ("cycles", plan.cycles, 1, MAX_CYCLES),
        ("reads", plan.reads, 1, MAX_READS),
        ("remeasure_cycles", plan.remeasure_cycles, 0, MAX_REMEASURE_CYCLES),
        # with re-measurement on, its first round always runs: 0 rounds would be a lie
        ("remeasure_rounds", plan.remeasure_rounds, 1 if plan.remeasure_cycles else 0,
         MAX_REMEASURE_ROUNDS),
    ):  # fmt: skip
        if not is_whole(value) or value < low:
            raise SettingRefused(name, f"{name} must be an integer >= {low}, got {value}")
        if value > high:
            raise SettingRefused(name, f"{name} must be at most {high}, got {value}")
    if not 0.0 <= plan.remeasure_budget <= 1.0:
        raise SettingRefused(
            "remeasure_budget",
            f"remeasure_budget is a fraction of the devices (0..1), got {plan.remeasure_budget}",
        )
    # the plan's default stands for "not given": a plan cannot tell it from a typed 2
    given = [
        name
        for name, value, default in (
            ("remeasure_rounds", plan.remeasure_rounds, DEFAULT_REMEASURE_ROUNDS),
            ("remeasure_budget", plan.remeasure_budget, DEFAULT_REMEASURE_BUDGET),
        )
        if value != default
    ]
    check_remeasure(
        plan.remeasure_cycles,
        plan.remeasure_rounds,
        given=given,
        remeasure_budget=plan.remeasure_budget,
    )
    for name, volts in (("read", plan.read_voltage), ("bias", plan.bias_read_voltage)):
        if volts is not None and 0.0 < float(volts) < MIN_READ_VOLTAGE:
            raise SettingRefused(
                "read_voltage" if name == "read" else "bias_read_voltage",
                f"{name} voltage {float(volts)!r} V is below {MIN_READ_VOLTAGE:g} V: the "
                "currents it gives are lost in any read path's noise; nothing applied",
            )
        if volts is not None and not 0.0 < float(volts) <= lim.max_read_voltage:
            value, hi = apart(float(volts), lim.max_read_voltage)
            where = (
                f"must be above 0 V (the die reads at up to {hi} V)"
                if float(volts) <= 0
                else f"lies outside the die's read range (0..{hi} V)"
            )
            kind = SettingRefused if float(volts) <= 0 else SettingOutsideLimits
            raise kind(
                "read_voltage" if name == "read" else "bias_read_voltage",
                f"{name} voltage {value} V {where}; nothing applied",
            )
    if plan.bias_read_voltage and float(plan.bias_read_voltage) == float(plan.read_voltage):
        raise SettingRefused(
            "bias_read_voltage",
            f"bias read voltage {plan.bias_read_voltage} V is the read voltage: the bias "
            "signature compares reads at two voltages; give another (or 0 to turn it off)",
        )
    try:
        check_write_pulse(layout, plan.pulse)
    except InvalidRequest as exc:
        raise refused_setting("pulse", exc) from None
    # values the bench cannot set exactly (a read voltage applied as another divides every
    # current by the wrong voltage)
    refuse_unsettable("read_voltage", "read voltage", float(plan.read_voltage), lim, "V")
    if plan.bias_read_voltage:
        bias = float(plan.bias_read_voltage)
        refuse_unsettable("bias_read_voltage", "bias read voltage", bias, lim, "V")
    if plan.pulse is not None:
        refuse_unsettable("pulse", "pulse amplitude", float(plan.pulse.amplitude), lim, "V")
        refuse_unsettable("pulse", "pulse width", float(plan.pulse.width), lim, "s")


def plan_record(plan: CharacterizationPlan) -> dict[str, Any]:
    """The (resolved) plan as plain JSON-able data, as run files store it."""
    record = asdict(plan)
    record["arrays"] = None if plan.arrays is None else [int(a) for a in plan.arrays]
    record["pulse"] = asdict(plan.pulse) if plan.pulse else None
    return record


def plan_from_record(record: dict[str, Any]) -> CharacterizationPlan:
    """Inverse of :func:`plan_record`; keys missing from older files take the values those
    runs were made with (no re-measurement, no bias read). Without re-measurement the
    rounds and the budget mean nothing and read as the defaults, so a plan stored before
    :func:`check_remeasure` refused them still resumes."""
    pulse = record.get("pulse")
    bias = record.get("bias_read_voltage")
    cycles = int(record.get("remeasure_cycles", 0))
    # (a stored 0 ran one round, as every plan with cycles does: it resumes as 1)
    rounds = max(1, int(record.get("remeasure_rounds", 1))) if cycles else DEFAULT_REMEASURE_ROUNDS
    budget = float(record.get("remeasure_budget", 0.01)) if cycles else DEFAULT_REMEASURE_BUDGET
    return CharacterizationPlan(
        arrays=tuple(int(a) for a in record["arrays"]),
        cycles=int(record["cycles"]),
        reads=int(record["reads"]),
        read_voltage=float(record["read_voltage"]),
        pulse=Pulse(**pulse) if pulse else None,
        remeasure_cycles=cycles,
        remeasure_budget=budget,
        remeasure_rounds=rounds,
        bias_read_voltage=None if bias is None else float(bias),
    )
