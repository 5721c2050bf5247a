"""Campaign kind ``switching``: one switching run file per die (``mtj-hil switching``).

Keys of a ``[[task]]`` group of this kind:

- which dies, as for ``characterize``: ``profile`` (default ``1t1r-20k``), ``lot_seed`` (0),
  ``dies`` (required for a simulated lot), or ``station`` with ``dies`` (virtual lab) or
  ``die_ids`` (a real bench; station tasks hold the station exclusively);
- the plan (defaults as ``mtj-hil switching``): ``arrays`` (``"0"``: switching one array
  of a die takes minutes, a whole die hours), ``widths`` (s, list; default three decades
  ending at the nominal width), ``amplitudes`` (V, list; default the die's grid),
  ``trials`` (16), ``probe_trials`` (4, at most ``trials``: a larger one is refused, and
  one given with ``adaptive = false`` too), ``adaptive`` (true), ``floor_trials`` (64),
  ``disturb_reads`` (2000), ``read_voltage`` (0.1 V, at most the envelope's largest read
  voltage), ``tau0`` (1e-9 s), ``target_wer`` (1e-6); ``placement``
  (``"grid"``; ``"information"`` refuses ``trials`` and ``adaptive``) with information
  placement's ``target_vc``, ``target_delta``, ``done_fraction``, ``placement_batch``,
  ``placement_budget``; the decision reads' ``decision_bound``, ``decision_exclude``,
  ``precision_margin``. A setting the plan would not use is refused at load.

The grid is checked against the die's safety envelope when the campaign is loaded, so a
point outside it is refused before any task starts. Run files:
``<out_dir>/<group>/<die>.h5``; an unfinished one is finished with the resume path of
``mtj-hil switching --resume`` (arrays already stored are not measured again).
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.campaigns.kinds.characterize import (
    DIE_KEYS,
    INDICES_ALLOWED,
    check_indices,
    die_targets,
    die_tasks,
    layout_name,
    stored_status,
    task_chip,
)
from mtj_hil.campaigns.registry import TaskKind, register_kind
from mtj_hil.campaigns.task import ExpandContext, Task, parse_indices
from mtj_hil.protocols.errors import InvalidRequest, OutsideLimits, SettingRefused
from mtj_hil.protocols.switching.decision import MAX_DECISION_BOUND, MAX_PRECISION_MARGIN
from mtj_hil.protocols.switching.procedure import (
    MAX_DISTURB_READS,
    MAX_TARGET_WER,
    MAX_TAU0,
    MAX_TRIALS,
    PLACEMENTS,
    SwitchingPlan,
)
from mtj_hil.schema import Field, Section

NAME = "switching"
DEFAULTS = SwitchingPlan(arrays=(), amplitudes=(), widths=())
"""The one source of plan defaults (the CLI's too); the limits are the plan check's."""
KEYS = Section(
    "task",
    "One switching run file per die (as mtj-hil switching); the grid is checked against "
    "the die's envelope when the campaign loads.",
    DIE_KEYS
    + (
        Field("arrays", "any", "Arrays to measure.", default="0", check=check_indices,
              allowed=INDICES_ALLOWED),
        Field("widths", "float list", "Pulse widths (default: three decades ending at the "
              "nominal width).", default=None, unit="s", lo=0, lo_open=True, nonempty=True),
        Field("amplitudes", "float list", "Pulse amplitudes (default: the die's grid).",
              default=None, unit="V", lo=0, lo_open=True, nonempty=True),
        Field("trials", "int", "Trials per device and grid point.", default=DEFAULTS.trials,
              lo=1, hi=MAX_TRIALS),
        Field("probe_trials", "int", "Trials first spent at each point (adaptive; at most "
              "trials).", default=DEFAULTS.probe_trials, lo=1, hi=MAX_TRIALS),
        Field("adaptive", "bool", "Spend full trials only where devices are in transition.",
              default=DEFAULTS.adaptive),
        Field("floor_trials", "int", "Trials per sweep for the write-error floor.",
              default=DEFAULTS.floor_trials, lo=0, hi=MAX_TRIALS),
        Field("disturb_reads", "int", "Reads per device for read disturb (0: skip).",
              default=DEFAULTS.disturb_reads, lo=0, hi=MAX_DISTURB_READS),
        Field("read_voltage", "float", "Read voltage of the state reads (within the die's "
              "read range).", default=DEFAULTS.read_voltage, unit="V", lo=0, hi=1,
              lo_open=True, hi_open=True),
        Field("tau0", "float", "Attempt time the fit assumes.", default=DEFAULTS.tau0,
              unit="s", lo=0, hi=MAX_TAU0, lo_open=True, hi_open=True),
        Field("target_wer", "float", "Write-error rate the recommended pulse reaches.",
              default=DEFAULTS.target_wer, lo=0, hi=MAX_TARGET_WER, lo_open=True,
              hi_open=True),
        Field("placement", "str", "'grid': amplitude sweeps; 'information': trials placed "
              "where they tell most about Vc0 and Delta.", default=DEFAULTS.placement,
              choices=PLACEMENTS),
        Field("target_vc", "float", "Relative 90 % half-width of Vc0 a device needs "
              "(information placement).", default=DEFAULTS.target_vc, lo=0, hi=1,
              lo_open=True, hi_open=True),
        Field("target_delta", "float", "Relative 90 % half-width of Delta a device needs "
              "(information placement).", default=DEFAULTS.target_delta, lo=0, hi=1,
              lo_open=True, hi_open=True),
        Field("done_fraction", "float", "Share of fitted devices at both targets that stops "
              "a direction (information placement).", default=DEFAULTS.done_fraction, lo=0,
              hi=1, lo_open=True),
        Field("placement_batch", "int", "Trials per placed point (information placement).",
              default=DEFAULTS.placement_batch, lo=1, hi=MAX_TRIALS),
        Field("placement_budget", "int", "Most trials per array and direction (information "
              "placement).", default=DEFAULTS.placement_budget, lo=1, hi=MAX_TRIALS),
        Field("decision_bound", "float", "Misread probability per cell and read of decision "
              "reads (0: precision reads throughout).", default=DEFAULTS.decision_bound,
              lo=0, hi=MAX_DECISION_BOUND, hi_open=True),
        Field("decision_exclude", "float", "Largest share of an array's cells decision "
              "reads may leave out.", default=DEFAULTS.decision_exclude, lo=0, hi=1),
        Field("precision_margin", "float", "Cells below this margin (sigma of one read) are "
              "left out where no integration meets decision_bound (decisions held to it, "
              "else precision reads).",
              default=DEFAULTS.precision_margin, lo=0, hi=MAX_PRECISION_MARGIN),
    ),
    many=True,
)  # fmt: skip


LATER_SETTINGS = ("decision_exclude", "precision_margin")
"""Plan settings added after campaigns began storing their tasks' plans, and no campaign
key of their own: a task's parameters leave them out while they are at the library's
default, so the parameters (and the hash the index keeps of them) of a task that completed
before they existed are unchanged, and the task runs them at the library's default."""


def task_plan_record(record: dict[str, Any]) -> dict[str, Any]:
    """A plan record (``plan_record``) as a task's parameters keep it: without the
    :data:`LATER_SETTINGS` that are at their default."""
    from mtj_hil.protocols.switching.procedure import SwitchingPlan

    return {
        k: v for k, v in record.items() if k not in LATER_SETTINGS or v != getattr(SwitchingPlan, k)
    }


def task_plan(record: dict[str, Any]) -> dict[str, Any]:
    """A task's plan parameters made whole: the :data:`LATER_SETTINGS` it leaves out at the
    library's default (not at the value a run file without them is read with)."""
    from mtj_hil.protocols.switching.procedure import SwitchingPlan

    return {**{k: getattr(SwitchingPlan, k) for k in LATER_SETTINGS}, **record}


def expand(group: dict[str, Any], ctx: ExpandContext) -> list[Task]:
    """Tasks of a ``switching`` group (see the module docstring).

    Raises:
        ConfigError: unknown key, missing dies, a station that does not load, a plan value
            out of range or a grid point outside the die's envelope (naming ``task[i].key``).
    """
    from mtj_hil.protocols.switching.procedure import (
        check_plan,
        default_amplitudes,
        default_widths,
    )
    from mtj_hil.protocols.switching.settings import (
        PLAN_SETTINGS,
        probe_trials_for,
        refuse_unused,
    )
    from mtj_hil.runs.jobs.switching import plan_record

    values = ctx.check(group, KEYS)
    targets = die_targets(group, ctx)
    layout = targets.die_layout
    for key in ("amplitudes", "widths"):
        if values[key] is not None and len(set(values[key])) != len(values[key]):
            raise ctx.error(key, "lists a value twice")
    trials, placement = values["trials"], values["placement"]
    settings = {k: values[k] for k in PLAN_SETTINGS}

    def spell(name: str, value: object) -> str:
        return f"{name} = {value!r}" if isinstance(value, str) else f"{name} = {str(value).lower()}"

    try:
        probe = probe_trials_for(
            trials,
            values["probe_trials"] if "probe_trials" in group else None,
            adaptive=values["adaptive"],
            placement=placement,
            given=[k for k in ("trials", "adaptive") if k in group],
            spell=spell,
        )
        refuse_unused(
            settings,
            placement=placement,
            decision_bound=settings["decision_bound"],
            given=[k for k in settings if k in group],
            spell=spell,
        )
    except SettingRefused as exc:
        raise ctx.error(exc.setting, f"is refused: {exc}") from None
    plan = SwitchingPlan(
        arrays=tuple(parse_indices(values["arrays"], ctx, "arrays", layout.n_arrays, noun="array")),
        amplitudes=tuple(sorted(values["amplitudes"] or default_amplitudes(layout))),
        widths=tuple(values["widths"] or default_widths(layout)),
        trials=trials,
        probe_trials=probe,
        adaptive=values["adaptive"],
        floor_trials=values["floor_trials"],
        disturb_reads=values["disturb_reads"],
        read_voltage=values["read_voltage"],
        tau0=values["tau0"],
        target_wer=values["target_wer"],
        placement=placement,
        **settings,
    )
    try:
        check_plan(layout, plan)
    except InvalidRequest as exc:
        key = refused_key(exc, group)
        given = f"= {group[key]!r} " if key in group and key not in ("station", "profile") else ""
        raise ctx.error(
            key,
            f"{given}is refused by the switching plan check for a die of profile "
            f"{layout_name(targets)}: {exc}",
            envelope=isinstance(exc, OutsideLimits),
        ) from exc
    return die_tasks(NAME, group, ctx, targets, task_plan_record(plan_record(plan)))


def refused_key(exc: InvalidRequest, group: dict[str, Any]) -> str:
    """The group key a refusal of the switching ``check_plan`` points at: the setting it
    names (``SettingRefused.setting``) when the group has such a key; otherwise what the
    die's limits come from (``station`` or ``profile``), since a setting the group cannot
    give (the set pulse: the die's nominal one) was refused by the die's envelope."""
    setting = exc.setting if isinstance(exc, SettingRefused) else None
    if setting is not None and any(f.name == setting for f in KEYS.fields):
        return setting
    return "station" if "station" in group else "profile"


def run(task: Task) -> dict[str, Any]:
    """Measure and fit the switching of the task's die into its run file, resuming an
    unfinished one.

    Raises:
        StoreError, InstrumentError, ...: whatever the job raised (recorded in the run file's
            status first, as ``mtj-hil switching`` does).
    """
    from mtj_hil.runs.jobs.switching import plan_from_record, run_switching

    p = task.params
    plan = plan_from_record(task_plan(p["plan"]))
    out = Path(task.run_file)
    status = stored_status(out)
    if status == "completed":
        return summary(out)
    with task_chip(p) as (chip, seed):
        run_switching(
            chip, out, die_id=p["die_id"], plan=plan, resume=status is not None, seed=seed
        )
    return summary(out)


def summary(path: Path) -> dict[str, Any]:
    """Per direction the fitted devices, median Vc0 (V) and Delta with their uncertainties,
    the Delta spread, devices that never switched; the recommended pulse.

    Raises:
        StoreError: not a switching run file. ValueError: the run has no fits yet.
    """
    from mtj_hil.runs.store.switching import load_switching

    sw = load_switching(path)
    if sw.analysis is None:
        raise ValueError(f"{path} has no switching fits yet")
    out: dict[str, Any] = {"die_id": str(sw.attrs.get("die_id", "")), "arrays": sw.analysis.arrays}
    for name, fit in sw.analysis.directions.items():
        pop = fit.population
        out[name] = {
            "n": int(pop.get("n", 0)),
            "never_switched": fit.never_switched,
            **{
                k: float(pop[k])
                for k in (
                    "vc",
                    "vc_sd",
                    "delta",
                    "delta_sd",
                    "vc_sigma_rel",
                    "vc_sigma_rel_sd",
                    "delta_sigma_rel",
                    "delta_sigma_rel_sd",
                )
                if k in pop
            },
        }
    rec = sw.analysis.recommendation
    out["recommendation"] = {
        "found": bool(rec.found),
        "amplitude": float(rec.amplitude),
        "width": float(rec.width),
        "wer_high": float(rec.wer_high),
    }
    return out


def digest(path: Path) -> str:
    """SHA-256 of the counts (trials and switches of every array) and the per-device fits."""
    from mtj_hil.runs.store.switching import load_switching

    sw = load_switching(path)
    h = hashlib.sha256()
    for a in sorted(sw.data):
        d = sw.data[a]
        for arr in (d.amplitude, d.width, d.direction, d.trials, d.switched):
            h.update(np.ascontiguousarray(arr).tobytes())
    if sw.analysis is not None:
        for name in sorted(sw.analysis.directions):
            fit = sw.analysis.directions[name]
            for arr in (fit.vc, fit.delta, fit.vc_sd, fit.delta_sd):
                h.update(np.ascontiguousarray(arr).tobytes())
    return h.hexdigest()


register_kind(TaskKind(NAME, expand, run, digest, KEYS))
