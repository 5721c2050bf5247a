"""One part of an index list such as ``"0-7,12"``: a single index or a range ``lo-hi``, read
the same way by the command line (``--arrays``) and by campaign files (``dies``,
``arrays``), so a slip is refused alike everywhere."""

from __future__ import annotations

import re

MAX_SEED = 2**63 - 1
"""Largest seed or die index a file may give: a run file records it as a 64-bit integer
(an integer written as a float, 1e308, is refused above this rather than at the run's end)."""

_PART = re.compile(r"\s*([0-9]+)\s*(?:-\s*([0-9]+)\s*)?")
"""ASCII digits only: ``int()`` also takes ``+1``, ``1_0`` and other scripts' digits."""


def range_part(part: str) -> tuple[int, int]:
    """``(first, last)`` of one part: ``"5"`` -> ``(5, 5)``, ``"2-5"`` -> ``(2, 5)``.

    Raises:
        ValueError: saying what is wrong: not an index or range (``"0-"``, ``"-1"``,
            ``"a"``, an empty part), or a range that runs backwards (``"5-2"``).
    """
    m = _PART.fullmatch(part)
    if m is None:
        raise ValueError(f"{part.strip()!r} is not an index or a range like 2-5")
    first = int(m.group(1))
    last = int(m.group(2)) if m.group(2) is not None else first
    if last < first:
        raise ValueError(
            f"the range {part.strip()} runs backwards; write it from low to high ({last}-{first})"
        )
    return first, last
