"""A campaign task and what a task kind's ``expand`` uses: its context and the checks of a
``[[task]]`` group's keys."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from mtj_hil.errors import ConfigError
from mtj_hil.protocols.errors import OutsideLimits
from mtj_hil.schema import Section, check_section, unknown_key_message
from mtj_hil.schema.ranges import range_part


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
        """SHA-256 of kind, run file and parameters (to notice a task changed since it ran);
        the parameters include ``file_digests``, the digests of the files a task loads (see
        :func:`file_digests`), so an edited profile or station file changes it too."""
        return _hash(self.kind, self.run_file, self.params)

    def matches(self, recorded: object) -> bool:
        """Whether ``recorded`` (a ``params_hash`` from the index) is this task's: its hash,
        or, for a record written before tasks carried ``file_digests``, the
        hash of its other parameters (such a record cannot tell an edited file)."""
        if recorded == self.params_hash():
            return True
        if "file_digests" not in self.params:
            return False
        others = {k: v for k, v in self.params.items() if k != "file_digests"}
        return recorded == _hash(self.kind, self.run_file, others)


def _hash(kind: str, run_file: Path, params: dict[str, Any]) -> str:
    text = json.dumps(
        {"kind": kind, "run_file": str(run_file), "params": params},
        sort_keys=True,
        default=str,
    )
    return hashlib.sha256(text.encode()).hexdigest()


def file_digests(*paths: str | Path | None) -> dict[str, str]:
    """SHA-256 of each existing file of ``paths`` (by its path as given; None and shipped
    names, which are not files, are left out): what a task's parameters carry as
    ``file_digests`` so that editing such a file counts as a change of the task."""
    digests = {}
    for path in paths:
        if path is not None and Path(path).is_file():
            digests[str(path)] = hashlib.sha256(Path(path).read_bytes()).hexdigest()
    return digests


def check_file_digests(params: dict[str, Any]) -> None:
    """Refuse to run a task whose profile or station file changed since its parameters were
    made (when the campaign was loaded): measured with the new file, its results would be
    recorded under the old file's digest, as if nothing had changed.

    Raises:
        ConfigError: naming the file that changed (or is gone)."""
    for path, recorded in (params.get("file_digests") or {}).items():
        now = file_digests(path).get(str(path))
        if now != recorded:
            what = "is gone" if now is None else "changed"
            raise ConfigError(
                f"{path} {what} since the campaign was loaded; nothing measured: run the "
                "campaign again to measure with the file as it is now"
            )


class SettingOutsideEnvelope(ConfigError, OutsideLimits):
    """A campaign setting outside the die's safety envelope: a configuration error that is
    a safety refusal too (``mtj-hil`` exits 6 for it, as for ``--amplitudes 2`` on
    ``mtj-hil switching``)."""


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

    def error(self, name: str, message: str, *, envelope: bool = False) -> ConfigError:
        """A ``ConfigError`` naming the file and the key ``task[i].name``; with ``envelope``
        a :class:`SettingOutsideEnvelope` (a setting beyond the die's safety limits: exit 6,
        as for the same setting on the command line)."""
        kind = SettingOutsideEnvelope if envelope else ConfigError
        return kind(f"{self.file}: {self.key(name)} {message}")

    def check(self, group: dict[str, Any], keys: Section) -> dict[str, Any]:
        """The group's values by the kind's declared ``keys`` (``name`` and ``kind`` always
        allowed), defaults filled in.

        Raises:
            ConfigError: an unknown key (closest match named), a wrong type or a value out of
                range, naming ``task[i].key``.
        """
        from mtj_hil.campaigns.schema import TASK

        section = Section(keys.name, keys.doc, TASK.fields + keys.fields, many=True)
        return check_section(
            group,
            section,
            str(self.file),
            where=f"task[{self.index}]",
            header=f"[[task]] of kind {group.get('kind')!r}",
        )

    def path(self, value: str) -> Path:
        """A path from the campaign file: relative ones are taken from the file's folder."""
        p = Path(value).expanduser()
        return p if p.is_absolute() else (self.file.parent / p).resolve()


# -- checks for kinds' expand -----------------------------------------------------------------


def check_keys(group: dict[str, Any], allowed: set[str], ctx: ExpandContext) -> None:
    """Refuse keys a kind does not know (``name`` and ``kind`` are always allowed).

    Raises:
        ConfigError: naming the first unknown key, the closest allowed one and all of them.
    """
    names = ["name", "kind", *sorted(allowed)]
    for key in group:
        if key not in names:
            raise ConfigError(
                unknown_key_message(
                    str(ctx.file),
                    f"task[{ctx.index}]",
                    key,
                    f"[[task]] of kind {group.get('kind')!r}",
                    names,
                )
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


MAX_INDICES = 100_000
"""Most dies (or arrays) a group's range may select (a die is one task); a range past it is a
typo (``"0-3500000"``) that would take the machine's memory before any task starts."""


def parse_indices(
    value: Any, ctx: ExpandContext, key: str, limit: int | None = None, noun: str = "die"
) -> list[int]:
    """Die (or ``noun``) indices from ``"0-35"``, ``"0-3,7"``, an int or a list of ints (no
    duplicates), at most :data:`MAX_INDICES` of them.

    Raises:
        ConfigError: malformed, empty, negative, duplicated, too many, or at/above ``limit``.
    """
    out: list[int] = []
    usage = f'must be a range like "0-35" or a list of {noun} indices'
    if isinstance(value, bool):
        raise ctx.error(key, usage)
    if isinstance(value, int):
        out = [value]
    elif isinstance(value, list) and all(
        isinstance(v, int) and not isinstance(v, bool) for v in value
    ):
        out = list(value)
    elif isinstance(value, str):
        try:
            for part in value.split(","):
                try:
                    first, last = range_part(part)
                except ValueError as exc:
                    raise ctx.error(key, f"= {value!r}: {exc}") from exc
                if last - first + 1 + len(out) > MAX_INDICES:
                    beyond = f"; the die has {limit} {noun}s" if limit is not None else ""
                    raise ctx.error(
                        key,
                        f"= {value!r} selects more than {MAX_INDICES:,} {noun}s{beyond}; give "
                        "a smaller range",
                    )
                out.extend(range(first, last + 1))
        except ValueError as exc:
            if isinstance(exc, ConfigError):
                raise
            raise ctx.error(key, f'= {value!r} is not a range like "0-35" or "0-3,7"') from exc
    else:
        raise ctx.error(key, usage)
    if not out:
        raise ctx.error(key, f"= {value!r} selects no {noun}s")
    if len(out) > MAX_INDICES:
        raise ctx.error(key, f"lists more than {MAX_INDICES:,} {noun}s; give fewer")
    if min(out) < 0 or (limit is not None and max(out) >= limit):
        allowed = f"0..{limit - 1}" if limit is not None else "0 or more"
        bad = min(out) if min(out) < 0 else max(out)
        raise ctx.error(key, f"= {value!r} names {noun} {bad}; allowed: {allowed}")
    if len(set(out)) != len(out):
        values, counts = np.unique(out, return_counts=True)
        twice = int(values[counts > 1][0])
        raise ctx.error(key, f"= {value!r} lists {noun} {twice} twice")
    return out
