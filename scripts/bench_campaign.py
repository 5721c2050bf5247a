"""Campaign engine figures: a 36-die lot characterised and the Borders experiment run over it,
in a plain loop, on 1 Dask worker, on 2 workers, and on 2 workers with one killed mid-task
and the campaign run again.

Prints wall times, the speed-up of 2 workers over 1, the engine's overhead per task against
the plain loop, and whether every task's numbers (result digests: defect maps, conductances,
per-die test errors) are identical across the four runs. Like Dask's workers, this process
runs numpy with one BLAS thread. Ends with exactly one line:
``campaign speed-up: S (1 worker T1 s, 2 workers T2 s); results identical: yes``.

Usage: python scripts/bench_campaign.py [--dies 36] [--seeds 2] [--dataset mnist5k]
       [--epochs 10] [--pool 32] [--kill-after 1.0] [--out DIR] [--smoke]
       (smaller: --dies 8 --seeds 2 --dataset digits --epochs 3)
"""

from __future__ import annotations

import os

# Dask's nanny starts workers with one BLAS/OpenMP thread each; the plain loop gets the same,
# so it measures the engine and not thread oversubscription.
for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ.setdefault(_var, "1")

import argparse  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import tempfile  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402
from collections.abc import Iterator  # noqa: E402
from contextlib import contextmanager  # noqa: E402
from datetime import datetime  # noqa: E402
from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

from _smoke import bench_description, parse_args  # noqa: E402

from mtj_hil.campaigns import load_campaign  # noqa: E402
from mtj_hil.campaigns.engine import connect, digests, plain_loop, run_campaign  # noqa: E402
from mtj_hil.campaigns.index import CampaignIndex  # noqa: E402

CAMPAIGN = """
[campaign]
name = "bench-{label}"
out_dir = "{label}"

[[task]]
name = "lot"
kind = "characterize"
dies = "0-{last}"
cycles = 3

[[task]]
name = "borders"
kind = "borders"
characterization = "lot"
seeds = {seeds}
dataset = "{dataset}"
epochs = {epochs}
finetune_epochs = {finetune}
stats_epochs = {finetune}
pool_size = {pool}
"""


def write(folder: Path, label: str, args: argparse.Namespace) -> Path:
    """The campaign file of one run, ``folder/label.toml``."""
    path = folder / f"{label}.toml"
    path.write_text(
        CAMPAIGN.format(
            label=label,
            last=args.dies - 1,
            seeds=list(range(args.seeds)),
            dataset=args.dataset,
            epochs=args.epochs,
            finetune=max(1, args.epochs // 3),
            pool=args.pool,
        )
    )
    return path


@contextmanager
def local_cluster(workers: int) -> Iterator[Any]:
    """A client on a new local cluster of ``workers`` workers, closed with it at the end."""
    client = connect(workers=workers)
    try:
        yield client
    finally:
        cluster = client.cluster
        client.close()
        cluster.close()


def timed_campaign(
    folder: Path, label: str, args: argparse.Namespace, client: Any
) -> tuple[float, float, dict[str, Any]]:
    """Wall seconds, summed task seconds (from the index) and result digests of a run on
    ``client``'s cluster (just started: its workers have run nothing yet)."""
    workers = len(client.nthreads())
    spec = load_campaign(write(folder, label, args))
    t0 = time.perf_counter()
    outcome = run_campaign(spec, client)
    seconds = time.perf_counter() - t0
    assert outcome.ok, outcome.failed
    busy = sum(
        (datetime.fromisoformat(r["ended"]) - datetime.fromisoformat(r["started"])).total_seconds()
        for r in CampaignIndex(spec.index_path).records().values()
    )
    print(
        f"  {workers} worker(s): tasks busy {busy:.1f} task-seconds in {seconds:.1f} s wall "
        f"(mean parallelism {busy / seconds:.2f})"
    )
    return seconds, busy, digests(spec)


def killed_campaign(
    folder: Path, args: argparse.Namespace, client: Any
) -> tuple[dict[str, Any], str]:
    """On ``client``'s 2 workers, SIGKILL the worker running the first Borders task
    ``args.kill_after`` seconds after it starts; then run the campaign again. Returns the
    digests and what was killed."""
    spec = load_campaign(write(folder, "killed", args))
    note = "no worker killed (the Borders tasks finished too fast)"
    result: dict = {}
    runner = threading.Thread(target=lambda: result.setdefault("o", run_campaign(spec, client)))
    runner.start()
    victim = None
    while runner.is_alive() and victim is None:
        for worker, keys in client.processing().items():
            if any(str(k).startswith("borders:seed") for k in keys):
                victim = (worker, next(str(k) for k in keys))
        time.sleep(0.05)
    if victim is not None:
        time.sleep(args.kill_after)  # well inside the task
        pid = client.run(os.getpid)[victim[0]]
        os.kill(pid, signal.SIGKILL)
        note = f"killed worker {victim[0]} (pid {pid}) while it ran {victim[1].rsplit('-', 1)[0]}"
    runner.join()
    first = result["o"]
    second = run_campaign(spec, client)
    note += (
        f"; first run: {len(first.completed)} completed, {len(first.failed)} failed; "
        f"rerun: {len(second.completed)} completed, {len(second.skipped)} skipped, "
        f"{len(second.failed)} failed"
    )
    return digests(spec), note


SMOKE = {
    "dies": 1,
    "seeds": 1,
    "dataset": "digits",
    "epochs": 1,
    "pool": 4,
    "kill_after": 0.2,
}
"""What ``--smoke`` shrinks (every run, the kill included, still happens)."""


def main(argv: list[str] | None = None) -> None:
    """Run the campaign four ways and print the figures."""
    ap = argparse.ArgumentParser(description=bench_description(__doc__))
    ap.add_argument("--dies", type=int, default=36, help="characterisation tasks (one per die)")
    ap.add_argument("--seeds", type=int, default=2, help="Borders tasks (one per seed)")
    ap.add_argument(
        "--dataset", default="mnist5k", choices=["mnist5k", "digits"], help="Borders data set"
    )
    ap.add_argument("--epochs", type=int, default=10, help="base epochs (fine-tunings: 1/3)")
    ap.add_argument("--pool", type=int, default=32, help="Borders pool_size (die realisations)")
    ap.add_argument(
        "--kill-after",
        type=float,
        default=1.0,
        help="seconds into the first Borders task at which its worker is killed",
    )
    ap.add_argument("--out", type=Path, default=None, help="keep the runs here")
    args = parse_args(ap, SMOKE, argv)
    folder = args.out or Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    folder.mkdir(parents=True, exist_ok=True)
    n_tasks = args.dies + args.seeds
    print(
        f"campaign: {args.dies} dies (1t1r-20k, 3 cycles) + Borders on {args.dataset} x "
        f"{args.seeds} seeds ({args.epochs} epochs) = {n_tasks} tasks; {os.cpu_count()} cores"
    )

    spec = load_campaign(write(folder, "loop", args))
    t0 = time.perf_counter()
    outcomes = plain_loop(list(spec.tasks))
    t_loop = time.perf_counter() - t0
    assert all(o["status"] == "completed" for o in outcomes), outcomes
    d_loop = digests(spec)
    print(f"plain loop (no engine):     {t_loop:8.1f} s")
    with local_cluster(1) as client:
        t1, busy1, d1 = timed_campaign(folder, "one", args, client)
    print(f"campaign, 1 worker:         {t1:8.1f} s")
    with local_cluster(2) as client:
        t2, _, d2 = timed_campaign(folder, "two", args, client)
        print(f"campaign, 2 workers:        {t2:8.1f} s")
        # the same two workers (the run is not timed): one more cluster to start is only
        # seconds of waiting
        d_killed, note = killed_campaign(folder, args, client)
    print(f"campaign, 2 workers, kill:  {note}")
    print(
        f"engine overhead per task, 1 worker: {1000 * (t1 - busy1) / n_tasks:.0f} ms outside "
        f"the tasks (scheduling, index, checksums); {1000 * (t1 - t_loop) / n_tasks:+.0f} ms "
        "against the plain loop's wall time"
    )
    same = d_loop == d1 == d2 == d_killed and len(d_loop) == n_tasks
    for name, d in (("1 worker", d1), ("2 workers", d2), ("killed + rerun", d_killed)):
        diff = sorted(k for k in d_loop if d.get(k) != d_loop[k])
        print(f"digests equal to the plain loop, {name}: {diff if diff else 'all'}")
    if args.out is None:
        shutil.rmtree(folder, ignore_errors=True)
    print(
        f"campaign speed-up: {t1 / t2:.2f} (1 worker {t1:.1f} s, 2 workers {t2:.1f} s); "
        f"results identical: {'yes' if same else 'no'}"
    )


if __name__ == "__main__":
    main()
