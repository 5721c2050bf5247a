"""The options of ``mtj-hil switching`` for information placement and decision reads, with
their defaults, ranges and the check that each given one is used by the plan."""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

import click

from mtj_hil.cli.common import given_options, spell_option
from mtj_hil.cli.list_options import plain_number
from mtj_hil.cli.numbers import FiniteRange
from mtj_hil.errors import ConfigError
from mtj_hil.protocols.switching.decision import MAX_DECISION_BOUND, MAX_PRECISION_MARGIN
from mtj_hil.protocols.switching.procedure import MAX_TRIALS, SwitchingPlan
from mtj_hil.protocols.switching.settings import DECISION_ONLY, PLACEMENT_ONLY, PLAN_SETTINGS

DEFAULTS = SwitchingPlan(arrays=(), amplitudes=(), widths=())
"""The library's plan defaults: the options below take theirs from it."""

SETTINGS = PLAN_SETTINGS
"""The plan settings these options give, as the plan spells them."""

UNRECORDED = {
    "decision_bound": "decision reads",
    **{name: "decision reads" for name in DECISION_ONLY},
    "placement": "information placement",
    **{name: "information placement" for name in PLACEMENT_ONLY},
}
"""Settings a run file written before them does not hold -> what it predates (``--resume``
refuses them as not comparable, see :func:`mtj_hil.cli.resume_plan.refuse_changed_plan`)."""

_OPTIONS = (
    click.option(
        "--decision-bound",
        default=DEFAULTS.decision_bound,
        show_default=True,
        type=FiniteRange(0, MAX_DECISION_BOUND, max_open=True),
        help="Misread probability per cell and read that a trial's state read may have when "
        "it only decides P from AP: on a station whose board sets its converter's "
        "integration, trials read at the shortest integration within this bound, given the "
        "array's measured contrast and noise (the simulated die reads every trial with "
        "precision). 0: precision reads throughout.",
    ),
    click.option(
        "--decision-exclude",
        default=DEFAULTS.decision_exclude,
        show_default=True,
        type=FiniteRange(0, 1),
        help="Largest share of an array's cells the decision reads may leave out (too close "
        "to the P/AP threshold for any integration); they count as not measurable. With "
        "more such cells the decisions hold the cells to --precision-margin instead, "
        "leaving out at most this share more than precision reads would; else the array "
        "keeps precision reads.",
    ),
    click.option(
        "--precision-margin",
        default=DEFAULTS.precision_margin,
        show_default=True,
        type=FiniteRange(0, MAX_PRECISION_MARGIN),
        help="Where no integration meets --decision-bound, cells closer to the P/AP "
        "threshold than this many standard deviations of one read are left out (misread "
        "too often to fit), by decisions at the shortest integration that loses at most "
        "--decision-exclude more than precision reads, else by precision reads. 0: none "
        "(precision reads).",
    ),
    click.option(
        "--target-vc",
        default=DEFAULTS.target_vc,
        show_default=True,
        type=FiniteRange(0, 1, min_open=True, max_open=True),
        help="Information placement: relative 90 % interval half-width of Vc0 a device needs.",
    ),
    click.option(
        "--target-delta",
        default=DEFAULTS.target_delta,
        show_default=True,
        type=FiniteRange(0, 1, min_open=True, max_open=True),
        help="Information placement: relative 90 % interval half-width of Delta a device needs.",
    ),
    click.option(
        "--done-fraction",
        default=DEFAULTS.done_fraction,
        show_default=True,
        type=FiniteRange(0, 1, min_open=True),
        help="Information placement: share of the fitted devices that must reach both "
        "targets before a direction of an array stops.",
    ),
    click.option(
        "--placement-batch",
        default=DEFAULTS.placement_batch,
        show_default=True,
        type=click.IntRange(1, MAX_TRIALS),
        help="Information placement: trials per placed point.",
    ),
    click.option(
        "--placement-budget",
        default=DEFAULTS.placement_budget,
        show_default=True,
        type=click.IntRange(1, MAX_TRIALS),
        help="Information placement: most trials per array and direction before the floor "
        "trials (a direction stops there even short of its targets).",
    ),
)


def placement_and_decision_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Add the options of :data:`SETTINGS` to a click command."""
    for option in reversed(_OPTIONS):
        command = option(command)
    return command


def given_settings(values: dict[str, Any], placement: str) -> dict[str, Any]:
    """The settings of :data:`SETTINGS` typed on the command line (name -> value).

    Raises:
        click.UsageError: one the plan would not use (a placement setting with grid
            placement, a decision setting with ``--decision-bound 0``), or a placement
            batch above the budget, naming the options.
    """
    from mtj_hil.protocols.switching.settings import SettingRefused, refuse_unused

    given = given_options(SETTINGS)
    try:
        refuse_unused(
            values,
            placement=placement,
            decision_bound=values["decision_bound"],
            given=given,
            spell=spell_option,
        )
    except SettingRefused as exc:
        raise click.UsageError(str(exc)) from None
    if values["placement_batch"] > values["placement_budget"]:
        raise click.UsageError(
            f"{spell_option('placement_batch', values['placement_batch'])} is more than "
            f"{spell_option('placement_budget', values['placement_budget'])}: a direction "
            "spends at most its budget"
        )
    return {name: values[name] for name in given}


MAX_POINTS = 10_000
"""Most values ``--amplitudes`` or ``--widths`` may name (a list or a range's points): far
more than any sweep needs; a range past it is a typo (a step of ``1e-12``) that would take the
machine's memory before anything is measured."""


EXAMPLES = {
    "--amplitudes": ("'0.4,0.6,0.8'", "'0.4:1.2:0.025'"),
    "--widths": ("'1e-8,1e-7,1e-6'", "'1e-8:5e-8:1e-8'"),
}
"""A list and a range of each option, as its refusals show them."""


def parse_floats(text: str | None, option: str) -> tuple[float, ...] | None:
    """Parse ``"1e-8,1e-7"`` or a range ``"0.4:1.2:0.025"`` (start:stop:step, inclusive): at
    most :data:`MAX_POINTS` finite values in plain ASCII numbers, a range's size checked
    before it is built.

    Raises:
        ConfigError: malformed text, a number that is not finite, or too many values.
    """
    if text is None:
        return None
    ranged = ":" in text
    parts = text.split(":") if ranged else text.split(",")  # an empty item is a slip
    try:
        numbers = [plain_number(x) for x in parts]
        if ranged and (len(numbers) != 3 or numbers[2] <= 0 or numbers[1] < numbers[0]):
            raise ValueError
    except ValueError as exc:
        listed, ranged_example = EXAMPLES.get(option, EXAMPLES["--amplitudes"])
        raise ConfigError(
            f"{option} {text!r} is not a list like {listed} or a range like {ranged_example} "
            "(start:stop:step, plain numbers)"
        ) from exc
    if not all(map(math.isfinite, numbers)):
        raise ConfigError(f"{option} {text!r}: every number must be finite (not inf or nan)")
    count = len(numbers)
    if ranged:
        start, stop, step = numbers
        span = (stop - start) / step  # inf for a tiny step: no int of it
        count = math.floor(span + 1e-9) + 1 if span < MAX_POINTS else MAX_POINTS + 1
    if count > MAX_POINTS:
        raise ConfigError(
            f"{option} {text!r} names more than {MAX_POINTS:,} values; take fewer (in a "
            "range: a larger step)"
        )
    if ranged:  # 12 significant digits: no float noise (0.30000000000000004), at any scale
        numbers = [float(f"{start + k * step:.12g}") for k in range(count)]
    if not numbers:
        raise ConfigError(f"{option} {text!r} names no values")
    twice = sorted(x for x, times in Counter(numbers).items() if times > 1)
    if twice:
        shown = ", ".join(f"{x:g}" for x in twice)
        raise ConfigError(f"{option} {text!r} names {shown} twice; give each value once")
    return tuple(numbers)
