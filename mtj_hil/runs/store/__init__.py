"""HDF5 run files with provenance."""

from mtj_hil.runs.store.characterization import (
    Characterization,
    CharacterizationRun,
    load_characterization,
)
from mtj_hil.runs.store.runfile import RunFile

__all__ = ["Characterization", "CharacterizationRun", "RunFile", "load_characterization"]
