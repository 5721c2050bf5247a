"""A campaign's results as one ``xarray.Dataset`` over dies.

The run files of one task group (``characterize`` or ``switching``) are loaded as labelled
datasets (:mod:`mtj_hil.labelled`) and stacked along a new dimension ``die`` (coordinate:
the die labels). By default only the per-device results are kept (defect codes, mean
conductances and resistances, confidences, posteriors, bias signatures; for switching the
fits and WER); ``raw=True`` keeps every read and count as well. Dies measured on other
arrays are aligned on the ``array`` coordinate (missing values NaN).

Added per die: ``run_file``, ``run_id`` and, for characterisations, ``yield`` (share of
GOOD devices). Tasks without a completed run file are left out and listed in the
``missing`` attribute (JSON).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import xarray as xr

from mtj_hil.campaigns.index import (
    CampaignIndex,
    IndexUnreadable,
    file_checksum,
    owned_records,
)
from mtj_hil.campaigns.moved import moved_note
from mtj_hil.campaigns.spec import CampaignSpec, load_campaign
from mtj_hil.errors import ConfigError, StoreError
from mtj_hil.labelled.cf import CONVENTIONS, var
from mtj_hil.labelled.load import load_dataset, run_kind
from mtj_hil.protocols.defects.codes import DefectCode

MEASUREMENT_GROUPS = ("characterize", "switching")
"""Campaign task kinds whose run files are die measurements."""
RAW = {
    "characterize": (
        "conductance",
        "write_failed",
        "conductance_bias",
        "remeasure_selected",
        "remeasure_conductance",
        "remeasure_conductance_bias",
    ),
    "switching": (
        "trials",
        "switched",
        "p_switch",
        "floor_trials",
        "floor_switched",
        "floor_amplitude",
        "disturb_flips",
        "disturb_valid",
        "loop_array",
        "loop_row",
        "loop_column",
        "loop_conductance",
        "loop_voltage",
    ),
}
"""Variables left out unless ``raw``: every read and count, per group kind."""


def campaign_dataset(
    campaign: str | Path | CampaignSpec, group: str | None = None, *, raw: bool = False
) -> xr.Dataset:
    """The results of ``group`` (default: the campaign's first characterize group, else its
    first switching group) as one dataset over dies (see the module docstring).

    Raises:
        ConfigError: the campaign file does not load, the group does not exist or is not a
            die measurement, or none of its tasks has finished.
        StoreError: a run file that cannot be read (named), or the out_dir holds another
            campaign's index.
    """
    spec = campaign if isinstance(campaign, CampaignSpec) else load_campaign(campaign)
    groups = {t.group: t.kind for t in spec.tasks}
    if group is None:
        measured = [g for g, k in groups.items() if k in MEASUREMENT_GROUPS]
        if not measured:
            raise ConfigError(f"{spec.file}: no characterize or switching group")
        group = next((g for g in measured if groups[g] == "characterize"), measured[0])
    if group not in groups:
        raise ConfigError(f"{spec.file}: no task group {group!r}; groups: {', '.join(groups)}")
    kind = groups[group]
    if kind not in MEASUREMENT_GROUPS:
        raise ConfigError(
            f"{spec.file}: group {group!r} is a {kind!r} group; one Dataset over dies "
            f"exists for {' and '.join(MEASUREMENT_GROUPS)} groups"
        )
    records = _task_records(spec)
    dies, missing, labels = [], [], {}
    for task in (t for t in spec.tasks if t.group == group):
        path = Path(task.run_file)
        record = records.get(task.id, {})
        if record.get("status", "completed") != "completed":
            missing.append(task.id)  # not done, or measured with settings since changed
            continue
        if not path.exists() or run_kind(path)[1] != "completed":
            missing.append(task.id)
            continue
        _refuse_changed(task.id, path, record)
        ds = load_dataset(path)
        label = str(ds.attrs.get("die_id", task.id))
        if label in labels:
            raise StoreError(
                f"{path} and {labels[label]} both hold die {label!r}: one of them is not the "
                f"run file of its task (copied over?); restore it, or remove it and run the "
                "campaign again to measure it anew"
            )
        labels[label] = path
        if not raw:
            ds = ds.drop_vars([v for v in RAW[kind] if v in ds.variables])
            ds = ds.drop_dims(
                [d for d in ds.dims if not any(d in v.dims for v in ds.data_vars.values())]
            )
        ds = ds.expand_dims(die=[label])
        ds["run_file"] = xr.Variable(("die",), [str(path)], {"long_name": "run file"})
        ds["run_id"] = xr.Variable(
            ("die",), [str(ds.attrs.get("run_id", ""))], {"long_name": "run id"}
        )
        dies.append(ds)
    if not dies:
        tasks = [t for t in spec.tasks if t.group == group]
        changed = [t.id for t in tasks if records.get(t.id, {}).get("status") == "changed"]
        why = (
            f" ({len(changed)} of its tasks changed since measured{moved_note(tasks, records)})"
            if changed
            else ""
        )
        raise ConfigError(f"{spec.file}: no task of group {group!r} has finished yet{why}")
    out = xr.concat(dies, dim="die", join="outer", combine_attrs="drop_conflicts")
    if "defect" in out:
        good = (out.defect == DefectCode.GOOD).sum(("array", "row", "column"))
        devices = out.defect.notnull().sum(("array", "row", "column"))
        out["yield"] = var(
            (good / devices).values.astype(np.float64), ("die",), "1", "share of GOOD devices"
        )
    out["die"].attrs["long_name"] = "die label"
    out.attrs.pop("status", None)  # one run's status; a campaign's tasks each have theirs
    out.attrs.update(
        {
            "Conventions": CONVENTIONS,
            "title": f"campaign {spec.name}, group {group} ({kind}), {len(dies)} dies",
            "campaign": spec.name,
            "campaign_file": str(spec.file),
            "group": group,
            "group_kind": kind,
            "missing": json.dumps(missing),
            "dies_expected": len(dies) + len(missing),
            "campaign_running": int(
                spec.index_path.exists() and CampaignIndex(spec.index_path).run_active()
            ),
        }
    )
    return out


def _task_records(spec: CampaignSpec) -> dict[str, dict]:
    """Each task's record in the campaign's index: its ``status`` (``changed`` when its
    settings changed since it ran; see :func:`mtj_hil.campaigns.index.owned_records`) and
    the ``checksum`` of its run file; empty without a readable index (then the run files
    alone say what finished).

    Raises:
        StoreError: the index is another campaign's.
    """
    if not spec.index_path.exists():
        return {}
    try:
        return owned_records(spec)
    except IndexUnreadable:
        return {}


def _refuse_changed(task_id: str, path: Path, record: dict) -> None:
    """Refuse a run file that is not the one the index recorded for its task (replaced or
    edited since), as ``campaign run`` and ``campaign status --verify`` do.

    Raises:
        StoreError: naming the task, the file and both checksums.
    """
    indexed = record.get("checksum")
    if not indexed:
        return
    found = file_checksum(path)
    if found != indexed:
        raise StoreError(
            f"{task_id}: {path} changed since the campaign indexed it (checksum {found[:12]}, "
            f"indexed {str(indexed)[:12]}): its data are not the campaign's; restore it from "
            "a copy, or remove it and run the campaign again to measure it anew"
        )
