"""The smoke run of ``scripts/bench_campaign.py``
(see ``test_benches.py``: a file of its own so the suite's workers run it beside the
other benches)."""

from __future__ import annotations

import pytest

from .test_benches import SCRIPTS, check_smoke


@pytest.mark.slow
@pytest.mark.parametrize("stem", ["bench_campaign"])
def test_solo_bench_smoke(stem: str) -> None:
    check_smoke(SCRIPTS / f"{stem}.py")  # "bench_campaign.py"
