"""The smoke runs of ``scripts/bench_live.py`` and ``scripts/bench_training.py`` in a file of
their own (see ``test_benches.SOLO``)."""

from .test_benches import solo_smoke

test_solo_bench_smoke = solo_smoke(
    "bench_live", "bench_training"
)  # "bench_live.py", "bench_training.py"
