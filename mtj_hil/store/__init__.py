"""HDF5 run files with provenance."""

from mtj_hil.store.characterization import (
    Characterization,
    CharacterizationRun,
    load_characterization,
)
from mtj_hil.store.runfile import RunFile

__all__ = ["Characterization", "CharacterizationRun", "RunFile", "load_characterization"]
