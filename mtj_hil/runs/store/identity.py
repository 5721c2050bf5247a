"""Whether a resume measures the same die through the same chain as the run began with.

A run file holds one die measured through one measurement chain. Its root attribute
``station`` keeps the chip's ``describe()`` from when the run began; a resume compares the
resuming chip's description with it (:func:`refuse_other_bench`): another bench (the
in-process simulator vs a station, or another station), or a simulated die of another
profile under the same name (same die id, other physics), or a station whose die profile
has other values than when the run began, is refused before the file is touched."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from mtj_hil.errors import StoreError
from mtj_hil.runs.store.resume import resume_hint


def bench_of(description: Any) -> str:
    """What a chip's ``describe()`` says it measures through, as words: ``station 'NAME'``
    or ``the in-process simulator`` ("" when it does not say: a run file without a station
    snapshot)."""
    if not isinstance(description, dict) or not description.get("backend"):
        return ""
    station = description.get("station")
    if isinstance(station, dict) and station.get("name"):
        return f"station {station['name']!r}"
    if description["backend"] == "simulated":
        return "the in-process simulator"
    return f"a {description['backend']!r} backend"


def _differences(old: Any, new: Any, where: str = "") -> Iterator[str]:
    """Dotted names of the values that differ between ``old`` and ``new`` (JSON data); a
    key only one side has is not a difference (descriptions grow with new versions)."""
    if isinstance(old, dict) and isinstance(new, dict):
        for key in old.keys() & new.keys():
            yield from _differences(old[key], new[key], f"{where}.{key}" if where else key)
    elif old != new:
        yield where


def refuse_other_bench(path: str | Path, attrs: Mapping[str, Any], station: Any) -> None:
    """Refuse to resume the run file ``path`` (root attributes ``attrs``, ``station`` the
    snapshot it began with) on a chip described by ``station`` now, when that is another
    bench, a simulated die of the same name with another profile, or the same station with
    a die profile of other values (:func:`_refuse_other_station_profile`).

    Raises:
        StoreError: naming both and the command that finishes the run.
    """
    before = attrs.get("station")
    started, now = bench_of(before), bench_of(station)
    if not started or not now:
        return
    hint = resume_hint(attrs, path)
    if started != now:
        raise StoreError(
            f"{path} was started on {started}, not {now}: one run file holds one "
            f"measurement chain; resume it on {started} ({hint}), or measure into a new "
            "run file"
        )
    if now != "the in-process simulator":
        _refuse_other_station_profile(path, before, station, hint)
        return
    # the same name, lot and index (the die id) can still be another die: a profile file
    # edited since, or another file giving the same name
    profile = json.loads(json.dumps(station.get("profile", {}), default=str))
    changed = list(_differences(before.get("profile", {}), profile))
    if changed:
        name = profile.get("name", "?")
        raise StoreError(
            f"{path} was started on a simulated die of profile {name!r} with other values "
            f"({', '.join(changed[:4])}{', ...' if len(changed) > 4 else ''} differ): that is "
            f"another die; resume it with the profile it was started with ({hint}), or "
            "measure into a new run file"
        )


def _refuse_other_station_profile(path: str | Path, before: Any, now: Any, hint: str) -> None:
    """Refuse a resume through the same station whose die profile has other values than
    when the run began (``die_profile_values`` of the station snapshots): the profile edited
    in, or named by, the station file since. On a virtual lab that is another die under the
    same die id; on a bench, other limits and nominal values. A run file whose snapshot
    records no values (written before they were recorded) is not checked.

    Raises:
        StoreError: naming both profiles, the values that differ and how to finish the run.
    """
    old, new = before.get("station"), now.get("station")
    if not isinstance(old, Mapping) or not isinstance(new, Mapping):
        return
    recorded = old.get("die_profile_values")
    if not isinstance(recorded, Mapping) or not recorded:
        return
    current = json.loads(json.dumps(new.get("die_profile_values") or {}, default=str))
    changed = list(_differences(recorded, current))
    if changed:
        raise StoreError(
            f"{path} was started on station {old.get('name')!r} with die profile "
            f"{old.get('die_profile')!r}; the station now gives die profile "
            f"{new.get('die_profile')!r} with other values "
            f"({', '.join(changed[:4])}{', ...' if len(changed) > 4 else ''} differ): that is "
            f"another die; restore the station's die profile and resume ({hint}), or measure "
            "into a new run file"
        )


def simulated_profile_changes(recorded: Any, description: Any) -> list[str]:
    """The profile values (dotted names) in which the simulated die a file records
    (``recorded``: a chip's ``describe()`` as a run file keeps it, or just its ``profile``
    part) differs from the simulated die ``description`` describes now: a profile file edited
    since, or another file giving the same name, makes the same die id another die. Empty
    when either side is not the in-process simulator or records no profile."""
    if not isinstance(description, Mapping) or description.get("backend") != "simulated":
        return []
    if isinstance(recorded, Mapping) and "backend" in recorded:
        if recorded.get("backend") != "simulated":
            return []
        recorded = recorded.get("profile")
    if not isinstance(recorded, Mapping) or not recorded:
        return []
    old = json.loads(json.dumps(recorded, default=str))
    new = json.loads(json.dumps(description.get("profile", {}), default=str))
    return list(_differences(old, new))
