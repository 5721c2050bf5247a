"""What the die procedures share about where their results go: per-array data kept in
memory (the sinks tests and library users pass instead of a run file) and the progress
callback they call after each array."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Generic, TypeVar

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
