"""The smoke run of ``scripts/bench_instruments.py`` and ``scripts/bench_switching.py`` in a file of its own (see
``test_benches.SOLO``)."""

from .test_benches import solo_smoke

test_solo_bench_smoke = solo_smoke(
    "bench_instruments", "bench_switching"
)  # "bench_instruments.py", "bench_switching.py"
