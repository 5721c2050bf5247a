"""Ranges of a switching plan's counts and settings (:class:`~mtj_hil.protocols.switching.
procedure.SwitchingPlan`): the limits the plan check, the command's options and the campaign
keys share, and the check of every count and setting against them."""

from __future__ import annotations

from typing import Any

from mtj_hil.protocols.errors import SettingRefused
from mtj_hil.protocols.switching.decision import MAX_DECISION_BOUND, MAX_PRECISION_MARGIN

PLACEMENTS = ("grid", "information")
"""Ways of placing the trials (``SwitchingPlan.placement``)."""
MAX_TRIALS = 60_000
"""Most trials per point (``trials``, ``probe_trials``, ``floor_trials``, and the placement
budget): the one limit the plan check, the command's options and the campaign keys share."""
MAX_DISTURB_READS = 10_000_000
"""Most read-disturb reads per device and start state (``disturb_reads``)."""
MAX_TAU0 = 1e-3
"""Attempt times (s) the fits may assume lie in (0, MAX_TAU0) (``tau0``; about 1e-9 s for
thermally activated switching)."""
MAX_TARGET_WER = 0.5
"""Write-error rates a recommended pulse may be asked to reach lie in (0, MAX_TARGET_WER)
(``target_wer``: a pulse that fails more often than it writes is no write pulse)."""

MAX_VERIFY_ROUNDS = 100
"""Most write-verify rounds for a trial's start state (``verify_rounds``)."""
MAX_LOOP_STEPS = 10_000
"""Most amplitude steps per ramp of an R-V loop (``loop_steps``)."""


def check_counts(plan: Any) -> None:
    """Refuse trial and read counts and the fit and placement settings of a
    ``SwitchingPlan`` out of range, naming the field.

    Raises:
        SettingRefused: its ``setting`` names the field.
    """
    if not 1 <= plan.trials <= MAX_TRIALS:
        raise SettingRefused("trials", f"trials must be 1..{MAX_TRIALS}, got {plan.trials}")
    grid_probe = plan.adaptive and plan.placement == "grid"
    top = plan.trials if grid_probe else MAX_TRIALS
    if (grid_probe or plan.placement == "information") and not 1 <= plan.probe_trials <= top:
        raise SettingRefused(
            "probe_trials",
            f"probe_trials must be 1..{top}"
            + (" (at most trials)" if grid_probe else "")
            + f", got {plan.probe_trials}",
        )
    if not 0 <= plan.floor_trials <= MAX_TRIALS:
        raise SettingRefused(
            "floor_trials", f"floor_trials must be 0..{MAX_TRIALS}, got {plan.floor_trials}"
        )
    if not 0 <= plan.disturb_reads <= MAX_DISTURB_READS:
        raise SettingRefused(
            "disturb_reads",
            f"disturb_reads must be 0..{MAX_DISTURB_READS}, got {plan.disturb_reads}",
        )
    if not 2 <= plan.loop_steps <= MAX_LOOP_STEPS:
        raise SettingRefused(
            "loop_steps", f"loop_steps must be 2..{MAX_LOOP_STEPS}, got {plan.loop_steps}"
        )
    if not 1 <= plan.verify_rounds <= MAX_VERIFY_ROUNDS:
        raise SettingRefused(
            "verify_rounds",
            f"verify_rounds must be 1..{MAX_VERIFY_ROUNDS}, got {plan.verify_rounds}",
        )
    if not 0 <= plan.min_active <= 1:
        raise SettingRefused(
            "min_active",
            f"min_active must be in [0, 1] (a share of the devices), got {plan.min_active}",
        )
    if not 0 < plan.tau0 < MAX_TAU0:
        raise SettingRefused("tau0", f"tau0 must be in (0, {MAX_TAU0:g}) s, got {plan.tau0}")
    if not 0 < plan.target_wer < MAX_TARGET_WER:
        raise SettingRefused(
            "target_wer", f"target_wer must be in (0, {MAX_TARGET_WER:g}), got {plan.target_wer}"
        )
    if not 0 <= plan.decision_bound < MAX_DECISION_BOUND:
        raise SettingRefused(
            "decision_bound",
            f"decision_bound must be in [0, {MAX_DECISION_BOUND:g}), got {plan.decision_bound}",
        )
    if not 0 <= plan.decision_exclude <= 1:
        raise SettingRefused(
            "decision_exclude",
            f"decision_exclude must be in [0, 1] (a share of the array's cells), got "
            f"{plan.decision_exclude}",
        )
    if not 0 <= plan.precision_margin <= MAX_PRECISION_MARGIN:
        raise SettingRefused(
            "precision_margin",
            f"precision_margin must be 0..{MAX_PRECISION_MARGIN:g} (standard deviations of a "
            f"precision read), got {plan.precision_margin}",
        )
    if plan.placement not in PLACEMENTS:
        raise SettingRefused(
            "placement", f"placement must be one of {PLACEMENTS}, got {plan.placement!r}"
        )
    for name in ("target_vc", "target_delta"):
        if not 0 < getattr(plan, name) < 1:
            raise SettingRefused(name, "target_vc and target_delta must be in (0, 1)")
    if not 0 < plan.done_fraction <= 1:
        raise SettingRefused(
            "done_fraction", f"done_fraction must be in (0, 1], got {plan.done_fraction}"
        )
    if not 1 <= plan.placement_batch <= plan.placement_budget <= MAX_TRIALS:
        raise SettingRefused(
            "placement_batch" if plan.placement_batch < 1 else "placement_budget",
            f"need 1 <= placement_batch <= placement_budget <= {MAX_TRIALS}, got "
            f"{plan.placement_batch}, {plan.placement_budget}",
        )
