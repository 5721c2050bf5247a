"""Where a die profile's keys sit: a key written under the wrong section header (or above
the first one) is named with the section it belongs to."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from mtj_hil.errors import ConfigError
from mtj_hil.schema import FileSchema, Section


def owners(sections: Iterable[Section], key: str, besides: str = "") -> list[str]:
    """The names of ``sections`` (but ``besides``) that have a key named ``key``."""
    return [s.name for s in sections if s.name != besides and key in s.keys]


def _heads(names: list[str]) -> str:
    heads = [f"[{n}]" for n in names]
    return heads[0] if len(heads) == 1 else ", ".join(heads[:-1]) + " or " + heads[-1]


def check_placement(
    data: Mapping[str, Any], schema: FileSchema, sections: Sequence[Section], source: str
) -> None:
    """Refuse a key of one of ``sections`` (of ``schema``) found at the top level or in
    another of them (the ``[fit]`` table checks its own).

    Raises:
        ConfigError: naming ``source``, the key as written (``nominal_pulse.ramp``), the
            section(s) it belongs to and the keys allowed where it is.
    """
    top = schema.section("")
    for key in data:
        if key in schema.top_names():
            continue
        found = owners(sections, str(key))
        if found:
            raise ConfigError(
                f"{source}: {key} is not a top-level key of a {schema.kind}; it is a key of "
                f"{_heads(found)} (put it below that section's header); allowed at the top "
                f"level: {', '.join(top.keys)}"
            )
    for section in sections:
        raw = data.get(section.name)
        if not isinstance(raw, dict):
            continue
        for key in raw:
            found = [] if key in section.keys else owners(sections, str(key), section.name)
            if found:
                raise ConfigError(
                    f"{source}: {section.name}.{key} is not a key of [{section.name}]; it is a "
                    f"key of {_heads(found)} (a section header missing or misplaced?); allowed "
                    f"in [{section.name}]: {', '.join(section.keys)}"
                )
