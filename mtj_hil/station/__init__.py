"""A bench described by a station file: the file itself, connecting its instruments, the InstrumentChip built on them, and the station check."""

from mtj_hil.compat.legacy_names import forwarder as _forwarder

__getattr__ = _forwarder(__name__, ("mtj_hil.station.config", "mtj_hil.station.files"))
"""0.1 names of this module that moved (deprecated)."""
