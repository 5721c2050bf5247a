"""Measurement procedures written once against the Chip interface.

This package knows MTJs (states, pulses, conductances, defects) and nothing about SCPI,
serial bytes or instruments. It imports no other package of the project.
"""

from mtj_hil.protocols.characterize.plan import CharacterizationPlan, check_plan
from mtj_hil.protocols.characterize.procedure import (
    CharacterizationSink,
    MemorySink,
    characterize_die,
)
from mtj_hil.protocols.chip import CellState, Chip, Layout, Limits, Pulse
from mtj_hil.protocols.defects.detect import (
    DefectCode,
    DefectMap,
    SwitchingData,
    Thresholds,
    classify,
    classify_reads,
    derive_thresholds,
    detect_defects,
    measure_switching,
)
from mtj_hil.protocols.defects.evidence import ClassifierSettings
from mtj_hil.protocols.errors import InvalidRequest, ProtocolError
from mtj_hil.protocols.read import conductance_map, read_currents
from mtj_hil.protocols.write import WriteReport, write_weights

__all__ = [
    "CellState",
    "CharacterizationPlan",
    "CharacterizationSink",
    "Chip",
    "ClassifierSettings",
    "DefectCode",
    "DefectMap",
    "InvalidRequest",
    "Layout",
    "Limits",
    "MemorySink",
    "ProtocolError",
    "Pulse",
    "SwitchingData",
    "Thresholds",
    "WriteReport",
    "characterize_die",
    "check_plan",
    "classify",
    "classify_reads",
    "conductance_map",
    "derive_thresholds",
    "detect_defects",
    "measure_switching",
    "read_currents",
    "write_weights",
]
