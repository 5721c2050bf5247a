"""Measurement kinds: one registry entry per kind (characterisation, switching, ...) from which
the tool finds the kind's plan, procedure, run file, job, report, summary, command and
campaign task kind. See :mod:`mtj_hil.kinds.registry`."""

from mtj_hil.kinds.registry import MeasurementKind, file_kind, get_kind, measurement_kinds

__all__ = ["MeasurementKind", "file_kind", "get_kind", "measurement_kinds"]
