"""What the die procedures share about where their results go: per-array data kept in
memory (the sinks tests and library users pass instead of a run file) and the progress
callback they call after each array."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any, Generic, Protocol, TypeVar

from mtj_hil.protocols.errors import InvalidRequest

T = TypeVar("T")

ProgressCallback = Callable[[int, int, int], None]
"""Called as ``progress(done, total, array)`` after each array."""


class MemoryArrays(Generic[T]):
    """Per-array data in memory: the array part of a procedure's sink protocol."""

    def __init__(self) -> None:
        self.arrays: dict[int, T] = {}

    def completed_arrays(self) -> list[int]:
        """Arrays stored so far, in index order."""
        return sorted(self.arrays)

    def save_array(self, array: int, data: T) -> None:
        self.arrays[array] = data

    def load_arrays(self, arrays: Iterable[int]) -> dict[int, T]:
        """Raises: KeyError: an array that was never saved."""
        return {a: self.arrays[a] for a in arrays}


class ArraySink(Protocol):
    """The per-array part of a procedure's sink."""

    def completed_arrays(self) -> list[int]: ...

    def save_array(self, array: int, data: Any) -> None: ...


def measure_missing(
    arrays: list[int],
    sink: ArraySink,
    measure: Callable[[int], Any],
    progress: ProgressCallback | None,
    what: str,
) -> None:
    """Measure (``measure(array)``) and save, in plan order, each planned array ``sink``
    does not hold yet; ``progress(done, total, array)`` after each, counting the arrays
    already held as done.

    Raises:
        InvalidRequest: the ``what`` plan names an array twice (before anything is measured).
    """
    if len(set(arrays)) != len(arrays):
        raise InvalidRequest(f"the {what} plan names an array twice")
    done = set(sink.completed_arrays())
    finished = sum(a in done for a in arrays)
    for array in arrays:
        if array in done:
            continue
        sink.save_array(array, measure(array))
        finished += 1
        if progress is not None:
            progress(finished, len(arrays), array)
