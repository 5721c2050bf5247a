"""The smoke run of ``scripts/bench_campaign.py`` in a file of its own (see
``test_benches.SOLO``)."""

from .test_benches import solo_smoke

test_solo_bench_smoke = solo_smoke("bench_campaign")  # "bench_campaign.py"
