"""One function over many items, in this process or spread over local worker processes
(Dask's multiprocessing scheduler), with progress reported as items finish.

The experiments give every item its own seed, so the results do not depend on the number of
workers.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")
Report = Callable[[str, int, int], None]


def parallel_map(
    fn: Callable[..., T],
    args: Sequence[tuple[Any, ...]],
    workers: int = 1,
    report: Report | None = None,
    stage: str = "items",
) -> list[T]:
    """``[fn(*a) for a in args]``, in order; with ``workers`` > 1 and more than one item,
    over that many local processes. ``report(stage, done, total)`` is called before the
    first item, as items finish, and at the end."""
    report = report or (lambda stage, done, total: None)
    total = len(args)
    if workers <= 1 or total <= 1:
        out = []
        for k, a in enumerate(args):
            report(stage, k, total)
            out.append(fn(*a))
        report(stage, total, total)
        return out
    import dask
    from dask.callbacks import Callback

    done = [0]

    def finished(key, result, dsk, state, worker_id) -> None:
        done[0] += 1
        report(stage, min(done[0], total - 1), total)

    report(stage, 0, total)
    tasks = [dask.delayed(fn, pure=False)(*a) for a in args]
    with Callback(posttask=finished):
        out = list(dask.compute(*tasks, scheduler="processes", num_workers=workers))
    report(stage, total, total)
    return out
