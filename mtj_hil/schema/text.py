"""Reading a TOML file a person wrote: one clear line for every way it can be unreadable."""

from __future__ import annotations

import codecs
import tomllib
from pathlib import Path
from typing import Any

from mtj_hil.errors import ConfigError

_BOMS = (
    (codecs.BOM_UTF8, "UTF-8"),
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_MAGIC = (
    (b"\x89HDF\r\n\x1a\n", "an HDF5 file (a run file or campaign index?)"),
    (b"\x89PNG", "a PNG image"),
    (b"PK\x03\x04", "a zip archive"),
    (b"%PDF", "a PDF document"),
)


def read_text(path: str | Path, what: str, error: type[Exception] = ConfigError) -> str:
    """The text of the ``what`` (e.g. ``"station file"``) at ``path``.

    Raises:
        error: one line naming the file: missing or unreadable, a folder, binary, with a
            byte-order mark, or not UTF-8.
    """
    path = Path(path)
    try:
        if path.exists() and not path.is_dir() and not path.is_file():
            # a device or pipe: /dev/zero was read until memory ran out, a FIFO for ever
            raise error(f"{what} {path} is not a regular file (a device, pipe or socket)")
        raw = path.read_bytes()
    except IsADirectoryError as exc:
        raise error(f"{what} {path} is a folder, not a file") from exc
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise error(f"cannot read {what} {path}: {reason}") from exc
    for magic, name in _MAGIC:
        if raw.startswith(magic):
            raise error(f"{what} {path} is {name}, not a TOML text file")
    for bom, name in _BOMS:
        if raw.startswith(bom):
            raise error(
                f"{what} {path} starts with a {name} byte-order mark; save it as UTF-8 "
                "without a BOM"
            )
    if b"\x00" in raw:
        raise error(f"{what} {path} is a binary file (it holds NUL bytes), not TOML text")
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        raise error(
            f"{what} {path} is not UTF-8 text (byte 0x{raw[exc.start]:02x} on line {line}); "
            "save it as UTF-8"
        ) from exc


def read_toml(
    path: str | Path, what: str, error: type[Exception] = ConfigError
) -> tuple[str, dict[str, Any]]:
    """The text and the parsed TOML of the ``what`` at ``path``.

    Raises:
        error: unreadable (see :func:`read_text`) or not valid TOML, one line naming the file.
    """
    text = read_text(path, what, error)
    return text, parse_toml(text, path, what, error)


def parse_toml(
    text: str, path: str | Path, what: str, error: type[Exception] = ConfigError
) -> dict[str, Any]:
    """``text`` parsed as TOML. Raises: error: not valid TOML (naming ``path``)."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        reason = " ".join(str(exc).split())
        raise error(f"{what} {path} is not valid TOML: {reason}") from exc
    except (RecursionError, ValueError) as exc:
        raise error(f"{what} {path} is not valid TOML: {type(exc).__name__}") from exc


TOML_KINDS = {
    "calibration record": "mtj-hil calibration show FILE",
    "station file": "--station FILE, or mtj-hil station check FILE",
    "campaign file": "mtj-hil campaign run FILE",
    "die profile": "--profile FILE",
}
"""What takes each kind of TOML file mtj-hil reads."""


def toml_kind(data: dict[str, Any]) -> str | None:
    """Which kind of file the parsed TOML ``data`` is, by its top-level tables (a key of
    :data:`TOML_KINDS`), or None."""
    if data.get("format") == "mtj-hil-calibration":
        return "calibration record"
    if "station" in data and "safety" in data:
        return "station file"
    if "campaign" in data:
        return "campaign file"
    if "geometry" in data:
        return "die profile"
    return None


def refuse_other_kind(data: dict[str, Any], path: str | Path, wanted: str) -> None:
    """Refuse ``data`` (read from ``path`` as a ``wanted`` file, a key of
    :data:`TOML_KINDS`) that is plainly another kind: one line saying which, and what takes it.

    Raises:
        ConfigError: naming the file, its kind and the option or command that reads it.
    """
    kind = toml_kind(data)
    if kind is not None and kind != wanted:
        raise ConfigError(
            f"{path} is a {kind}, not a {wanted}; a {kind} is given to {TOML_KINDS[kind]}"
        )
