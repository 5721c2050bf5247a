"""Schemas of the files people write (station, profile, campaign, calibration record): fields,
types, ranges and allowed keys declared once, used to validate the files, to report the
effective settings and to write the file formats' documentation."""

from mtj_hil.schema.fields import (
    REQUIRED,
    Field,
    FileSchema,
    Section,
    check_section,
    check_top,
    check_unknown,
    check_value,
    checked,
    closest,
    settings,
    unknown_key_message,
    with_defaults,
)
from mtj_hil.schema.text import parse_toml, read_text, read_toml, refuse_other_kind, toml_kind

__all__ = [
    "refuse_other_kind",
    "toml_kind",
    "REQUIRED",
    "Field",
    "FileSchema",
    "Section",
    "check_section",
    "check_top",
    "check_unknown",
    "check_value",
    "checked",
    "closest",
    "parse_toml",
    "read_text",
    "read_toml",
    "settings",
    "unknown_key_message",
    "with_defaults",
]
