"""The options of ``mtj-hil switching`` for information placement and decision reads, with
their defaults, ranges and the check that each given one is used by the plan."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import click

from mtj_hil.cli.common import given_options, spell_option
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
refuses them as not comparable, see :func:`mtj_hil.cli.common.refuse_changed_plan`)."""

_OPTIONS = (
    click.option(
        "--decision-bound",
        default=DEFAULTS.decision_bound,
        show_default=True,
        type=click.FloatRange(0, MAX_DECISION_BOUND, max_open=True),
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
        type=click.FloatRange(0, 1),
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
        type=click.FloatRange(0, MAX_PRECISION_MARGIN),
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
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        help="Information placement: relative 90 % interval half-width of Vc0 a device needs.",
    ),
    click.option(
        "--target-delta",
        default=DEFAULTS.target_delta,
        show_default=True,
        type=click.FloatRange(0, 1, min_open=True, max_open=True),
        help="Information placement: relative 90 % interval half-width of Delta a device needs.",
    ),
    click.option(
        "--done-fraction",
        default=DEFAULTS.done_fraction,
        show_default=True,
        type=click.FloatRange(0, 1, min_open=True),
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
