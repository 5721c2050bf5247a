"""The campaign file's schema: ``[campaign]``, the keys every ``[[task]]`` has, and each task
kind's own keys (declared by the kind, :attr:`TaskKind.keys`).

Declared once: :mod:`mtj_hil.campaigns.spec` and the kinds' ``expand`` validate with it and
``docs/file-formats.md`` is written from it.
"""

from __future__ import annotations

from mtj_hil.schema import Field, Section

WORD_MAX = 100
"""Most characters of a campaign's or a group's name: files and folders are named after
them (``<campaign>-<group>-csv/``, ``report/<group>-dies.csv``) with room to spare for the
temporary names written beside them, within the 255 bytes a file name may have."""

_WORD = f"a word of letters, digits, '_.-' (at most {WORD_MAX})"


def _word(value: str) -> str | None:
    import re

    matched = re.match(r"^[A-Za-z0-9][A-Za-z0-9_.-]*$", value) and len(value) <= WORD_MAX
    return None if matched else f"must be {_WORD}"


CAMPAIGN = Section(
    "campaign",
    "The campaign's name and where its results go.",
    (
        Field("name", "str", "Name of the campaign (its index records it).", check=_word,
              allowed=_WORD),
        Field("out_dir", "str", "Folder of the index (campaign.h5) and run files; relative: "
              "to the campaign file's folder.", default="runs/<name>"),
    ),
)  # fmt: skip

TASK = Section(
    "task",
    "A group of tasks of one kind; every group has these keys, plus its kind's.",
    (
        Field("name", "str", "Unique name of the group (run files go to <out_dir>/<name>/).",
              check=_word, allowed=_WORD),
        Field("kind", "str", "The task kind: characterize, switching, borders (or a plug-in "
              "kind)."),
    ),
    many=True,
)  # fmt: skip
