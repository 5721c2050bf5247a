"""The trial settings a user gives for a switching plan, checked in one place for the
``mtj-hil switching`` command, :func:`mtj_hil.measure_switching` and the campaign kind
``switching``: a setting the plan would not use, or would have to change, is refused
instead of being ignored or capped silently."""

from __future__ import annotations

from collections.abc import Collection

from mtj_hil.protocols.errors import SettingRefused, Spell
from mtj_hil.protocols.errors import plain_setting as _plain
from mtj_hil.protocols.switching.procedure import SwitchingPlan

__all__ = [
    "DECISION_ONLY",
    "DEFAULT_PROBE_TRIALS",
    "GRID_ONLY",
    "PLACEMENT_ONLY",
    "PLAN_SETTINGS",
    "SettingRefused",
    "Spell",
    "probe_trials_for",
    "refuse_unused",
]

DEFAULT_PROBE_TRIALS = SwitchingPlan.probe_trials
"""Probe trials of a plan whose user gave none (lowered to the trials on the grid)."""
GRID_ONLY = ("trials", "adaptive")
"""Settings only grid placement uses (information placement places its own batches)."""
PLACEMENT_ONLY = (
    "target_vc",
    "target_delta",
    "done_fraction",
    "placement_batch",
    "placement_budget",
)
"""Settings only information placement uses (the grid's trials are fixed by the plan)."""
DECISION_ONLY = ("decision_exclude", "precision_margin")
"""Settings of the decision-read rule: unused with ``decision_bound = 0`` (precision reads
throughout, no margins measured)."""
PLAN_SETTINGS = ("decision_bound", *DECISION_ONLY, *PLACEMENT_ONLY)
"""The decision-read and information-placement settings a user may give (the command's
options, ``measure_switching``'s arguments, a campaign task's keys)."""


def probe_trials_for(
    trials: int,
    probe_trials: int | None,
    *,
    adaptive: bool = True,
    placement: str = "grid",
    given: Collection[str] = (),
    spell: Spell = _plain,
) -> int:
    """The probe trials of a plan from the settings the user gave.

    Args:
        trials: trials per grid point.
        probe_trials: the probe trials given, or None when not given: then the default,
            lowered to ``trials`` when that is smaller (so a small ``trials`` alone works).
        adaptive, placement: the plan's.
        given: which of ``trials`` and ``adaptive`` the user gave (not left at defaults).
        spell: how a setting and its value are named in messages.

    Returns:
        The probe trials to put in the plan (a given value unchanged).

    Raises:
        SettingRefused (an ``InvalidRequest``): ``probe_trials`` above ``trials`` on the
            adaptive grid, ``probe_trials`` with adaptive off (unused), or ``trials`` or
            ``adaptive`` with information placement (unused); ``setting`` names it.
    """
    values = {"trials": trials, "adaptive": adaptive, "probe_trials": probe_trials}
    if placement == "information":
        for name in GRID_ONLY:
            if name in given:
                raise SettingRefused(
                    name,
                    f"{spell(name, values[name])} works with grid placement only; information "
                    "placement places its own batches of trials and does not use it (leave "
                    "it out)",
                )
        return DEFAULT_PROBE_TRIALS if probe_trials is None else probe_trials
    if probe_trials is None:
        return min(DEFAULT_PROBE_TRIALS, trials)
    if not adaptive:
        raise SettingRefused(
            "probe_trials",
            f"{spell('probe_trials', probe_trials)} works with adaptive trials only; "
            f"{spell('adaptive', False)} spends every one of {spell('trials', trials)} at "
            "each point (leave it out)",
        )
    if probe_trials > trials:
        raise SettingRefused(
            "probe_trials",
            f"{spell('probe_trials', probe_trials)} is more than {spell('trials', trials)}: "
            f"the probe trials are the first of each point's trials; allowed 1..{trials}",
        )
    return probe_trials


def refuse_unused(
    values: dict[str, object],
    *,
    placement: str = "grid",
    decision_bound: float = SwitchingPlan.decision_bound,
    given: Collection[str] = (),
    spell: Spell = _plain,
) -> None:
    """Refuse a placement or decision-read setting the plan would not use.

    Args:
        values: the settings as given (name -> value), for the message.
        placement, decision_bound: the plan's.
        given: which settings the user gave (not left at defaults).
        spell: how a setting and its value are named in messages.

    Raises:
        SettingRefused (an ``InvalidRequest``): one of :data:`PLACEMENT_ONLY` given with
            grid placement, or one of :data:`DECISION_ONLY` given with ``decision_bound``
            0; ``setting`` names it.
    """
    if placement != "information":
        for name in PLACEMENT_ONLY:
            if name in given:
                raise SettingRefused(
                    name,
                    f"{spell(name, values[name])} works with information placement only; "
                    f"{spell('placement', placement)} measures a fixed grid (leave it out, "
                    f"or add {spell('placement', 'information')})",
                )
    if not decision_bound:
        for name in DECISION_ONLY:
            if name in given:
                raise SettingRefused(
                    name,
                    f"{spell(name, values[name])} works with decision reads only; "
                    f"{spell('decision_bound', 0)} reads every trial with precision reads "
                    "(leave it out)",
                )
