"""Campaigns: whole lots and experiment sweeps as tasks on Dask (``dask.distributed``).

A campaign file (TOML) lists task groups; each group expands into tasks of a registered
kind (:mod:`mtj_hil.campaigns.registry`). Every task writes its own run file; the client
process alone keeps the campaign index (HDF5) of status, checksum and provenance.
"""

from mtj_hil.campaigns.registry import TaskKind, get_kind, kinds, register_kind
from mtj_hil.campaigns.spec import CampaignSpec, load_campaign
from mtj_hil.campaigns.task import Task

__all__ = [
    "CampaignSpec",
    "Task",
    "TaskKind",
    "get_kind",
    "kinds",
    "load_campaign",
    "register_kind",
]
