"""The ``[fit]`` table fit-profile writes at the end of a fitted profile: exactly its keys.

The loader does not use these values, but it checks them: the table is the file's last, so
a line appended by hand, or a key moved out of its section, would land in it and silently do
nothing. Every key mtj-hil fit-profile has ever written is allowed (``warnings`` since the
goodness-of-fit checks; a run's ``kind`` was once any string), nothing else.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from mtj_hil.errors import ConfigError
from mtj_hil.schema import Field, Section, check_section, unknown_key_message

_PROFILE_KEY = re.compile(r"^([a-z_][a-z_0-9]*)\.([a-z_][a-z_0-9]*)(\[[0-9]+\])?$")

FIT = Section(
    "fit",
    "Optional, written by fit-profile: how it derived the values (not used by the "
    "simulation, but checked: a key fit-profile does not write is refused).",
    (
        Field("defaults", "str list", "Keys kept from the base profile (the runs cannot tell "
              "them).", default=[]),
        Field("warnings", "str list", "Goodness-of-fit warnings.", default=[]),
        Field("tmr", "float", "Fitted TMR, r_ap_median / r_p_median - 1.", default=None,
              finite=False),
        Field("tmr_sd", "float", "Standard uncertainty of tmr.", default=None, finite=False),
        Field("uncertainty", "table", "Standard uncertainty of each fitted value, keyed by "
              '"section.key" (a number each).', default={}),
        Field("source", "table", 'Where each fitted value came from, keyed by "section.key" '
              "(a string each).", default={}),
        Field("runs", "any", "The run files fitted, as [[fit.runs]] tables.", default=[],
              allowed="an array of [[fit.runs]] tables"),
    ),
    required=False,
)  # fmt: skip

FIT_RUNS = Section(
    "fit.runs",
    "Optional, written by fit-profile: one table per run file it fitted.",
    (
        Field("path", "str", "The run file as given to fit-profile."),
        Field("kind", "str", "The run's kind (characterization or switching)."),
        Field("die_id", "str", "The die the run measured."),
    ),
    required=False,
    many=True,
)


def check_fit(raw: Any, src: str, profile_sections: Sequence[Section]) -> None:
    """Refuse a ``[fit]`` table holding anything fit-profile does not write.

    ``profile_sections`` are the profile's own sections (their keys), so that a value keyed ``"section.key"`` can be checked and a profile key found in the
    wrong place named with its section.

    Raises:
        ConfigError: naming ``src``, the dotted key, its value or the allowed keys, and where
            a profile key belongs when one was put here.
    """
    if raw is None:
        return
    keys = {section.name: section.keys for section in profile_sections}
    sections = _sections_of(profile_sections)
    _check_table(raw, FIT, src, "fit", sections)
    for part, kind in (("uncertainty", "a number"), ("source", "a string")):
        for key, value in raw.get(part, {}).items():
            match = _PROFILE_KEY.match(key)
            where = f'fit.{part}."{key}"'
            if not match or match.group(2) not in keys.get(match.group(1), ()):
                raise ConfigError(
                    f"{src}: {where} is not a key fit-profile writes: [fit.{part}] holds "
                    f'"section.key" names of profile keys{_belongs(key, sections)}'
                )
            number = isinstance(value, int | float) and not isinstance(value, bool)
            if not (isinstance(value, str) if part == "source" else number):
                raise ConfigError(f"{src}: {where} = {value!r} must be {kind}")
    runs = raw.get("runs", [])
    if not isinstance(runs, list):
        raise ConfigError(f"{src}: fit.runs must be an array of [[fit.runs]] tables, got {runs!r}")
    for i, run in enumerate(runs):
        _check_table(run, FIT_RUNS, src, f"fit.runs[{i}]", sections)


def _sections_of(profile_sections: Sequence[Section]) -> Callable[[str], str]:
    """Where a profile key belongs, as the end of a message (the first of
    ``profile_sections`` holding it, by :func:`mtj_hil.sim.profile_tables.owners`)."""
    from mtj_hil.sim.profile_tables import owners

    def where(key: str) -> str:
        found = owners(profile_sections, key)
        return f"; {key} is a key of [{found[0]}]" if found else ""

    return where


def _belongs(key: str, sections: Callable[[str], str]) -> str:
    return sections(key.rsplit(".", 1)[-1]) if "." in key else sections(key)


def _check_table(
    raw: Any, section: Section, src: str, where: str, sections: Callable[[str], str]
) -> None:
    """check_section, with an unknown key's message also naming the profile section it
    belongs to (a key moved into [fit] by mistake)."""
    header = section.header()
    if isinstance(raw, dict):
        for key in raw:
            if key not in section.keys:
                message = unknown_key_message(src, where, key, header, section.keys)
                raise ConfigError(message + sections(str(key)))
    check_section(raw, section, src, where=where, header=header)
