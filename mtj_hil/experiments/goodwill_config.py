"""What the Goodwill experiment (:mod:`mtj_hil.experiments.goodwill`) runs: its settings,
their counts checked as they are made (each in a stated range), light enough for the command
line to import for its ``--help``."""

from __future__ import annotations

from dataclasses import dataclass

from mtj_hil.schema import Field, checked
from mtj_hil.training.bnn import MAX_EPOCHS

__all__ = ["MAX_RESTARTS", "MAX_SOLUTIONS", "GoodwillConfig"]

MAX_SOLUTIONS = 10_000
"""Most networks (``--solutions``) one Goodwill run trains, writes and measures: each takes
``restarts`` trainings and a write-verify of the die, so seconds; generous (about 30 times
the default) but finite, so a mistyped count is refused instead of running for ever."""
MAX_RESTARTS = 100
"""Most trainings per solution (``--restarts``) of one Goodwill run."""

_COUNTS = (
    Field("solutions", "int", "networks", lo=1, hi=MAX_SOLUTIONS),
    Field("epochs", "int", "epochs", lo=1, hi=MAX_EPOCHS),
    Field("restarts", "int", "trainings per solution", lo=1, hi=MAX_RESTARTS),
)
"""The counts of :class:`GoodwillConfig` checked by type and range before anything runs."""


@dataclass
class GoodwillConfig:
    """What to run.

    Attributes:
        solutions: networks to train (each from its own seed).
        epochs: training epochs per network.
        profile: passive die profile.
        lot_seed, die: which simulated die.
        seed: master seed.
        reference: daffodil-wine folder (None = default location).
        daffodil: also evaluate the NIST solutions (skipped with a message if absent).
        restarts: trainings per solution; the one with the best training accuracy is kept
            (the test split is never looked at).
        pulse_amplitude: first write-verify pulse (V). Below the die's nominal 1.0 V because
            verify escalates from there (+0.05 V a round) and half-selected cells see half of
            it: from 1.0 V the escalation reaches 1.2 V, whose 0.6 V half-select disturb
            undoes about 7 % of the bits; from 0.9 V none were left wrong in our runs.
        pulse_width: write pulse width (s).
    """

    solutions: int = 300
    epochs: int = 100
    profile: str = "passive-15x15"
    lot_seed: int = 0
    die: int = 0
    seed: int = 0
    reference: str | None = None
    daffodil: bool = True
    restarts: int = 3
    pulse_amplitude: float = 0.9
    pulse_width: float = 1e-6

    def __post_init__(self) -> None:
        """Raises ConfigError: a count that is not an integer in its range (named)."""
        for f in _COUNTS:
            setattr(self, f.name, checked(f, getattr(self, f.name)))
