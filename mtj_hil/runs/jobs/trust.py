"""Nothing reaches a run file from an instrument that left its known state.

:class:`CheckedSink` wraps a job's run-file sink: before anything measured is saved (every
``save_*`` call, e.g. one array's data), the chip re-checks its instruments
(``InstrumentChip.verify_instruments``: power-on bit, identity, output state, interlock and
temperature status, every steady setting). If one was reset, power-cycled, tripped or
replaced since the last check, ``InstrumentStateLost`` (exit 7) is raised *before* the save, so
the run file keeps only arrays measured in a good state; the job records the run ``aborted``
and ``--resume`` measures again from the first array not stored. A chip without instruments
(the simulator) has nothing to check.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["CheckedSink"]


class CheckedSink:
    """``sink`` with every ``save_*`` call preceded by the chip's instrument check."""

    def __init__(self, sink: Any, chip: Any) -> None:
        self._sink = sink
        self._verify: Callable[[], None] | None = getattr(chip, "verify_instruments", None)

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._sink, name)
        if not name.startswith("save_") or self._verify is None or not callable(attr):
            return attr
        verify = self._verify

        def checked(*args: Any, **kwargs: Any) -> Any:
            verify()
            return attr(*args, **kwargs)

        return checked
