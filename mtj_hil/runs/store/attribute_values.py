"""What the values of a run file's root attributes must be: the format marker, texts that
UTF-8 can carry, a format version that is a whole number."""

from __future__ import annotations

import numbers
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mtj_hil.errors import command_line

FORMAT = "mtj-hil-run"
"""The root ``format`` attribute of every run file."""

CAMPAIGN_FORMAT = "mtj-hil-campaign"
"""The root ``format`` attribute of a campaign's index (``campaign.h5``): an HDF5 file of
the tool's that is not a run file, told apart so a command given one can say what it is."""


def is_run_format(value: Any) -> bool:
    """Whether a root ``format`` attribute says "mtj-hil run file" (whatever its type: an
    array there is not compared element by element)."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    return isinstance(value, str) and value == FORMAT


def is_text(value: Any) -> bool:
    """Whether an attribute's value is a text that UTF-8 can carry (h5py gives bytes for a
    fixed-length string; undecodable bytes become surrogates no writer can encode)."""
    try:
        if isinstance(value, bytes):
            value.decode("utf-8")
        elif isinstance(value, str):
            value.encode("utf-8")
        else:
            return False
    except UnicodeError:
        return False
    return True


def format_version_of(value: Any) -> int | None:
    """A ``format_version`` attribute as the whole number >= 0 it must be (numpy integers,
    and floats such as ``1.0`` as older writers may store them), else None (``1.5``, ``-1``,
    text, an array)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        return None
    if value != int(value) or value < 0:
        return None
    return int(value)


def not_a_run_said(attrs: Mapping[str, Any], path: str | Path) -> str:
    """What a command given an HDF5 file that is not a run file (root attributes ``attrs``)
    is told: a campaign's index names its campaign and its campaign file, which the
    commands that take a campaign take."""
    marker = attrs.get("format")
    if isinstance(marker, bytes):
        marker = marker.decode("utf-8", "replace")
    if not (isinstance(marker, str) and marker == CAMPAIGN_FORMAT):  # (an array: not it)
        return f"{path} is an HDF5 file but not an mtj-hil run file"
    name, spec = attrs.get("name"), attrs.get("campaign_file")
    said = (
        f"{path} is the index of campaign {str(name)!r}, not a run file: give one of its run files"
    )
    if isinstance(spec, str) and spec:
        export = command_line("export", Path(spec), "--format", "netcdf")
        said += (
            f", or its campaign file where a command takes one (export its results with: {export})"
        )
    return said
