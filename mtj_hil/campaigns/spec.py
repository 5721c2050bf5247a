"""Campaign files (TOML): loading and validation, before any task starts.

Layout::

    [campaign]
    name = "lot0"                 # required
    out_dir = "runs/lot0"          # relative to the campaign file's folder; default runs/<name>

    [[task]]                       # a group of tasks of one kind
    name = "lot"                   # unique group name
    kind = "characterize"          # a registered kind (see mtj_hil.campaigns.registry)
    ...                            # the kind's own keys

Every error is a ``ConfigError`` naming the file and the key (``task[2].dies``).
"""

from __future__ import annotations

import hashlib
import json
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from mtj_hil.campaigns.registry import get_kind
from mtj_hil.errors import ConfigError

INDEX_NAME = "campaign.h5"
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class Task:
    """One unit of work: one run file.

    Attributes:
        id: ``<group>/<label>``, unique in the campaign.
        kind: registered kind name.
        group: the ``[[task]]`` group it came from.
        run_file: absolute path of the run file the task writes.
        params: JSON-able parameters the kind's ``run`` needs.
        station: name of the exclusive resource (a bench) it drives, or None.
        needs: ids of tasks that must be completed before it starts.
    """

    id: str
    kind: str
    group: str
    run_file: Path
    params: dict[str, Any]
    station: str | None = None
    needs: tuple[str, ...] = ()

    def params_hash(self) -> str:
        """SHA-256 of kind, run file and parameters (to notice a task changed since it ran)."""
        text = json.dumps(
            {"kind": self.kind, "run_file": str(self.run_file), "params": self.params},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()


@dataclass
class ExpandContext:
    """What a kind's ``expand`` may use: where the campaign lives and the groups before it."""

    file: Path
    out_dir: Path
    index: int
    groups: dict[str, list[Task]] = field(default_factory=dict)

    def key(self, name: str) -> str:
        """``task[i].name``: how messages name a key of this group."""
        return f"task[{self.index}].{name}"

    def error(self, name: str, message: str) -> ConfigError:
        """A ``ConfigError`` naming the file and the key ``task[i].name``."""
        return ConfigError(f"{self.file}: {self.key(name)} {message}")

    def path(self, value: str) -> Path:
        """A path from the campaign file: relative ones are taken from the file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.file.parent / p).resolve()


@dataclass(frozen=True)
class CampaignSpec:
    """A validated campaign: its tasks in dependency order and where results go."""

    name: str
    file: Path
    out_dir: Path
    tasks: tuple[Task, ...]
    text: str

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
            file, a dependency on a group that does not exist (message names file and key).
    """
    path = Path(path).resolve()
    try:
        text = path.read_text()
    except OSError as exc:
        raise ConfigError(f"cannot read campaign file {path}: {exc.strerror}") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"campaign file {path} is not valid TOML: {exc}") from exc
    unknown = set(data) - {"campaign", "task"}
    if unknown:
        raise ConfigError(
            f"{path}: unknown section(s) {', '.join(sorted(unknown))}; "
            "a campaign has [campaign] and [[task]] groups"
        )
    head = data.get("campaign")
    if not isinstance(head, dict):
        raise ConfigError(f'{path}: missing [campaign] section with at least name = "..."')
    extra = set(head) - {"name", "out_dir"}
    if extra:
        raise ConfigError(f"{path}: unknown key(s) campaign.{', campaign.'.join(sorted(extra))}")
    name = head.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        raise ConfigError(f"{path}: campaign.name must be a word of letters, digits, '_.-'")
    out = head.get("out_dir", f"runs/{name}")
    if not isinstance(out, str) or not out:
        raise ConfigError(f"{path}: campaign.out_dir must be a folder path")
    out_dir = Path(out).expanduser()
    out_dir = out_dir if out_dir.is_absolute() else (path.parent / out_dir).resolve()
    groups_raw = data.get("task")
    if not isinstance(groups_raw, list) or not groups_raw:
        raise ConfigError(f"{path}: no [[task]] groups; a campaign needs at least one")
    groups: dict[str, list[Task]] = {}
    for i, group in enumerate(groups_raw):
        ctx = ExpandContext(path, out_dir, i, groups)
        gname = group.get("name")
        if not isinstance(gname, str) or not _NAME.match(gname):
            raise ctx.error("name", "must be a word of letters, digits, '_.-' naming the group")
        if gname in groups:
            raise ctx.error("name", f"{gname!r} names an earlier group too")
        if "kind" not in group:
            raise ctx.error("kind", 'is missing (e.g. kind = "characterize")')
        kind = get_kind(str(group["kind"]), where=f"{path}: {ctx.key('kind')}")
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
    return CampaignSpec(name, path, out_dir, tasks, text)


# -- helpers for kinds' expand -----------------------------------------------------------------


def check_keys(group: dict[str, Any], allowed: set[str], ctx: ExpandContext) -> None:
    """Refuse keys a kind does not know (``name`` and ``kind`` are always allowed).

    Raises:
        ConfigError: naming the first unknown key and the allowed ones.
    """
    for key in group:
        if key not in allowed | {"name", "kind"}:
            raise ctx.error(
                key,
                f"is not a key of kind {group['kind']!r}; allowed: {', '.join(sorted(allowed))}",
            )


def int_param(
    group: dict[str, Any], key: str, default: int, lo: int, hi: int, ctx: ExpandContext
) -> int:
    """The integer ``group[key]`` (``default`` when absent), which must lie in ``lo..hi``.

    Raises:
        ConfigError: not an integer (a bool is not one) or outside the range.
    """
    v = group.get(key, default)
    if not isinstance(v, int) or isinstance(v, bool) or not lo <= v <= hi:
        raise ctx.error(key, f"must be an integer in {lo}..{hi}")
    return v


def parse_indices(value: Any, ctx: ExpandContext, key: str, limit: int | None = None) -> list[int]:
    """Die indices from ``"0-35"``, ``"0-3,7"``, an int or a list of ints (no duplicates).

    Raises:
        ConfigError: malformed, empty, negative, duplicated, or at/above ``limit``.
    """
    out: list[int] = []
    if isinstance(value, bool):
        raise ctx.error(key, 'must be a range like "0-35" or a list of die indices')
    if isinstance(value, int):
        out = [value]
    elif isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        out = list(value)
    elif isinstance(value, str):
        try:
            for part in value.split(","):
                lo, _, hi = part.strip().partition("-")
                out.extend(range(int(lo), int(hi if hi else lo) + 1))
        except ValueError as exc:
            raise ctx.error(key, f'= {value!r} is not a range like "0-35" or "0-3,7"') from exc
    else:
        raise ctx.error(key, 'must be a range like "0-35" or a list of die indices')
    if not out:
        raise ctx.error(key, "selects no dies")
    if min(out) < 0 or (limit is not None and max(out) >= limit):
        raise ctx.error(key, f"must lie in 0..{'' if limit is None else limit - 1}")
    if len(set(out)) != len(out):
        raise ctx.error(key, "lists a die twice")
    return out
