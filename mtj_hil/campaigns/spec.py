"""Campaign files (TOML): loading and validation, before any task starts.

Layout::

    [campaign]
    name = "lot0"                 # required
    out_dir = "runs/lot0"          # relative to the campaign file's folder; default runs/<name>

    [[task]]                       # a group of tasks of one kind
    name = "lot"                   # unique group name
    kind = "characterize"          # a registered kind (see mtj_hil.campaigns.registry)
    ...                            # the kind's own keys

    [cluster]                      # optional: see mtj_hil.campaigns.cluster
    tls_ca_file = "certs/ca.pem"   # TLS to a --scheduler tls://...; dashboard_address

Every error is a ``ConfigError`` naming the file and the key (``task[2].dies``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from mtj_hil.campaigns.cluster import ClusterSettings, parse_cluster
from mtj_hil.campaigns.registry import get_kind
from mtj_hil.campaigns.task import ExpandContext, Task
from mtj_hil.compat.legacy_names import forwarder as _forwarder
from mtj_hil.errors import ConfigError

INDEX_NAME = "campaign.h5"
RESERVED_NAMES = {INDEX_NAME: "index", "report": "report folder"}
"""Names in ``out_dir`` the campaign writes itself (and ``campaign.h5.*``, the index's lock
and set-aside copies): no group's folder may take them."""
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class CampaignSpec:
    """A validated campaign: its tasks in dependency order and where results go."""

    name: str
    file: Path
    out_dir: Path
    tasks: tuple[Task, ...]
    text: str
    cluster: ClusterSettings = ClusterSettings()
    """The ``[cluster]`` section: TLS certificates and the dashboard's address."""

    @property
    def index_path(self) -> Path:
        """The campaign index (HDF5) in ``out_dir``."""
        return self.out_dir / INDEX_NAME

    def task(self, task_id: str) -> Task:
        return next(t for t in self.tasks if t.id == task_id)


def load_campaign(path: str | Path) -> CampaignSpec:
    """Read and validate a campaign file, expanding every group into tasks.

    Raises:
        ConfigError: unreadable file, bad TOML, a missing or unknown key, an unknown task
            kind, missing dies, a station file that does not load, two tasks writing one run
            file, a dependency on a group that does not exist, a setting a task would refuse
            when it starts (each kind's ``expand`` checks its groups as its tasks will;
            message names file, key and value).
    """
    from mtj_hil.campaigns.schema import CAMPAIGN, TASK, WORD_MAX
    from mtj_hil.schema import FileSchema, check_section, check_top, read_toml, refuse_other_kind

    path = Path(path).resolve()
    text, data = read_toml(path, "campaign file")
    refuse_other_kind(data, path, "campaign file")
    cluster = parse_cluster(data.pop("cluster", None), path)
    check_top(data, FileSchema("campaign file", "", (CAMPAIGN, TASK)), str(path))
    head = data.get("campaign")
    if head is None:
        raise ConfigError(f'{path}: missing [campaign] section with at least name = "..."')
    head = check_section(head, CAMPAIGN, str(path))
    name = head["name"]
    out = head["out_dir"].replace("<name>", name)
    if not out:
        raise ConfigError(f"{path}: campaign.out_dir must be a folder path")
    out_dir = Path(out).expanduser()
    out_dir = out_dir if out_dir.is_absolute() else (path.parent / out_dir).resolve()
    if out_dir.exists() and not out_dir.is_dir():  # else found only when the run starts
        raise ConfigError(f"{path}: campaign.out_dir {out_dir} is a file, not a folder")
    groups_raw = data.get("task")
    if not isinstance(groups_raw, list) or not groups_raw:
        raise ConfigError(f"{path}: no [[task]] groups; a campaign needs at least one")
    groups: dict[str, list[Task]] = {}
    for i, group in enumerate(groups_raw):
        ctx = ExpandContext(path, out_dir, i, groups)
        if not isinstance(group, dict):
            raise ConfigError(f"{path}: task[{i}] must be a table ([[task]]), got {group!r}")
        gname = group.get("name")
        if not isinstance(gname, str) or not _NAME.match(gname) or len(gname) > WORD_MAX:
            raise ctx.error(
                "name",
                f"must be a word of letters, digits, '_.-' (at most {WORD_MAX}) naming the group",
            )
        if gname in groups:
            raise ctx.error("name", f"{gname!r} names an earlier group too")
        if gname in RESERVED_NAMES or gname.startswith(INDEX_NAME + "."):
            raise ctx.error(
                "name",
                f"{gname!r} is the name of the campaign's own {RESERVED_NAMES.get(gname, 'index')}"
                " in its out_dir (the group's folder would be it); choose another name",
            )
        if not isinstance(group.get("kind"), str):
            raise ctx.error("kind", 'is missing or not a string (e.g. kind = "characterize")')
        kind = get_kind(group["kind"], where=f"{path}: {ctx.key('kind')}")
        tasks = kind.expand(group, ctx)
        if not tasks:
            raise ctx.error("name", f"group {gname!r} expands to no tasks")
        groups[gname] = tasks
    tasks = tuple(t for ts in groups.values() for t in ts)
    seen: dict[Path, str] = {}
    for t in tasks:
        if t.run_file in seen:
            raise ConfigError(
                f"{path}: tasks {seen[t.run_file]} and {t.id} would both write {t.run_file}"
            )
        seen[t.run_file] = t.id
    return CampaignSpec(name, path, out_dir, tasks, text, cluster)


__getattr__ = _forwarder(__name__, ("mtj_hil.campaigns.task",))
"""0.1 names of this module that moved (deprecated)."""
