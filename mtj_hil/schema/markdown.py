"""The file formats' documentation, written from their schemas (``docs/file-formats.md``)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from mtj_hil.schema.fields import Field, FileSchema, Section


def _default(f: Field) -> str:
    if f.required:
        return "**required**"
    value: Any = f.default
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return f'`"{value}"`'
    if isinstance(value, float):
        return f"`{value:g}`"
    if isinstance(value, tuple | list):
        return "`[" + ", ".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) + "]`"
    if isinstance(value, dict) and not value:
        return "(empty)"
    return f"`{value}`"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def section_markdown(section: Section) -> str:
    """One section: its heading, what it is for and a table of its keys."""
    title = f"`{section.title or section.header()}`"
    flags = []
    if not section.required:
        flags.append("optional")
    if section.named:
        flags.append("one table per name")
    if section.many:
        flags.append("repeated")
    lines = [f"### {title}", "", section.doc + (f" ({', '.join(flags)})" if flags else ""), ""]
    lines += ["| key | type | default | allowed | meaning |", "|---|---|---|---|---|"]
    for f in section.fields:
        kind = f.kind + (f" ({f.unit})" if f.unit else "")
        lines.append(
            f"| `{f.name}` | {_cell(kind)} | {_cell(_default(f))} | {_cell(f.describe())} "
            f"| {_cell(f.doc)} |"
        )
    return "\n".join(lines) + "\n"


def schema_markdown(schema: FileSchema) -> str:
    """One file kind: heading, description and every section."""
    out = [f"## {schema.kind}", "", schema.doc, ""]
    out += [section_markdown(s) for s in schema.sections]
    return "\n".join(out)


def document(title: str, intro: str, schemas: Iterable[FileSchema]) -> str:
    """The whole document: a title, an introduction and every file kind."""
    body = "\n".join(schema_markdown(s) for s in schemas)
    return f"# {title}\n\n{intro}\n\n{body}".rstrip() + "\n"
