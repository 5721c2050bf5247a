"""Measurement procedures written once against the Chip interface.

This package knows MTJs (states, pulses, conductances, defects) and nothing about SCPI,
serial bytes or instruments. It imports no other layer of the project (only the bottom
floor's :mod:`mtj_hil.errors` and :mod:`mtj_hil.compat`).

The names below load on first use (PEP 562, :mod:`mtj_hil.compat.lazy`): importing one
module of the package, such as :mod:`mtj_hil.protocols.errors` or
:mod:`mtj_hil.protocols.chip`, does not load the procedures and what they import (scipy).
"""

from typing import TYPE_CHECKING

from mtj_hil.compat.lazy import lazy_exports

if TYPE_CHECKING:
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

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "mtj_hil.protocols.characterize.plan": ("CharacterizationPlan", "check_plan"),
        "mtj_hil.protocols.characterize.procedure": (
            "CharacterizationSink",
            "MemorySink",
            "characterize_die",
        ),
        "mtj_hil.protocols.chip": ("CellState", "Chip", "Layout", "Limits", "Pulse"),
        "mtj_hil.protocols.defects.detect": (
            "DefectCode",
            "DefectMap",
            "SwitchingData",
            "Thresholds",
            "classify",
            "classify_reads",
            "derive_thresholds",
            "detect_defects",
            "measure_switching",
        ),
        "mtj_hil.protocols.defects.evidence": ("ClassifierSettings",),
        "mtj_hil.protocols.errors": ("InvalidRequest", "ProtocolError"),
        "mtj_hil.protocols.read": ("conductance_map", "read_currents"),
        "mtj_hil.protocols.write": ("WriteReport", "write_weights"),
    },
)
