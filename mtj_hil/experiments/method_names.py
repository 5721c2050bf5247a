"""The training methods of ``mtj-hil train`` and the settings only some of them use: one
list for the command's choices, the library's checks and the stored network's kind."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from mtj_hil.errors import ConfigError

METHODS = (
    "unaware",
    "defect-aware",
    "defect-aware-compensated",
    "statistics-aware",
    "chip-in-the-loop",
    "lea",
)
DIE_METHODS = ("defect-aware", "defect-aware-compensated")
"""Methods whose network is trained through one die's measured map (and refused on another)."""
STATION_METHODS = ("chip-in-the-loop", "lea")
"""Methods that work on a station's die (``--station``: fine-tuned through it, or its
characterisation measured now); the others train from characterisation files."""
METHOD_OPTIONS: dict[str, tuple[str, ...]] = {
    "copies": ("lea",),
    "loop_epochs": ("chip-in-the-loop",),
    "population_dies": ("statistics-aware",),
    "characterization": (*DIE_METHODS, "statistics-aware", "lea"),
    "station": STATION_METHODS,
    "compensation_budget": ("defect-aware-compensated",),
    "compensation_epochs": ("defect-aware-compensated",),
}
"""The :class:`TrainSpec` settings (``mtj-hil train`` options) only some methods use, and
those methods: given with another method they are refused, not ignored."""


def _either(names: Sequence[str]) -> str:
    return names[0] if len(names) == 1 else f"{', '.join(names[:-1])} or {names[-1]}"


def check_method_options(method: str, given: Iterable[str]) -> None:
    """Refuse settings ``method`` does not use (``given``: the names of the
    :data:`METHOD_OPTIONS` set), and ``population_dies`` beside characterisation files.

    Raises:
        ConfigError: naming the option and the methods that use it.
    """
    given = list(given)
    for name in given:
        users = METHOD_OPTIONS.get(name, (method,))
        if method in users:
            continue
        if name == "station":
            advice = (
                "characterize the die with --station, train with --characterization RUNFILE"
                if method in METHOD_OPTIONS["characterization"]
                else "train without --station"
            )
            raise ConfigError(
                f"--station works with --method {_either(users)}; for {method}, {advice}, "
                "evaluate with --station"
            )
        raise ConfigError(
            f"--{name.replace('_', '-')} works with --method {_either(users)} only; {method} "
            "does not use it"
        )
    if "population_dies" in given and "characterization" in given:
        raise ConfigError(
            "--population-dies is how many dies are characterised now; with --characterization "
            "the population is the files given: drop one of them"
        )
