"""docs/campaigns.md names every key each shipped task kind accepts (the borders row had
lost ``shared_rows`` and ``compensation_epochs``)."""

from __future__ import annotations

import re
from pathlib import Path

from mtj_hil.campaigns.registry import kinds

DOC = Path(__file__).resolve().parents[2] / "docs" / "campaigns.md"


def test_every_kind_row_names_every_key():
    rows = {
        line.split("`")[1]: set(re.findall(r"`([a-z_0-9]+)`", line))
        for line in DOC.read_text().splitlines()
        if line.startswith("| `")
    }
    for name, kind in kinds().items():
        named = rows[name]
        if "as for `characterize`" in " ".join(named) or "characterize" in named:
            named = named | rows["characterize"]  # "the dies as for `characterize`"
        missing = [f.name for f in kind.keys.fields if f.name not in named]
        assert not missing, f"docs/campaigns.md, kind {name}: keys not named: {missing}"
