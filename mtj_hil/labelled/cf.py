"""Building blocks of the labelled datasets: CF-style variables and attributes that survive a
trip through NetCDF.

Every data variable carries ``units`` (UDUNITS spelling: ``S``, ``ohm``, ``V``, ``s``, ``1``
for dimensionless) and a ``long_name``; flag variables (defect codes, fit status) carry
``flag_values`` and ``flag_meanings`` (CF conventions, section 3.5). Dataset attributes are
strings and numbers only: nested values (plan, station, fitted model) are JSON text.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import xarray as xr

CONVENTIONS = "CF-1.10"
PROVENANCE = (
    "kind",
    "die_id",
    "run_id",
    "status",
    "status_reason",
    "started",
    "ended",
    "operator",
    "seed",
    "package_version",
    "git_revision",
    "python",
    "host",
    "command",
    "format",
    "format_version",
)
"""Run-file root attributes copied onto every dataset (as text or numbers)."""
JSON_ATTRS = ("plan", "layout", "station", "resumed")
"""Run-file root attributes copied as JSON text."""


def var(data: Any, dims: Sequence[str], units: str, long_name: str, **attrs: Any) -> xr.Variable:
    """A data variable with its CF ``units`` and ``long_name`` (and any further attributes)."""
    return xr.Variable(
        tuple(dims), np.asarray(data), {"units": units, "long_name": long_name, **attrs}
    )


def coord(values: Any, dim: str, long_name: str, units: str | None = None) -> xr.Variable:
    """A dimension coordinate: numbers carry ``units`` (an index or a count without one:
    ``1``, dimensionless), labels (text) none."""
    data = np.asarray(values)
    attrs = {"long_name": long_name}
    if units is None and data.dtype.kind in "iuf":
        units = "1"
    if units is not None:
        attrs["units"] = units
    return xr.Variable((dim,), data, attrs)


def flags(values: Sequence[int], names: Sequence[str]) -> dict[str, Any]:
    """CF flag attributes for a variable holding one of ``values`` (meanings ``names``)."""
    return {
        "flag_values": np.asarray(values, np.uint8),
        "flag_meanings": " ".join(n.replace(" ", "_") for n in names),
    }


def attr_value(value: Any) -> str | int | float | np.ndarray:
    """``value`` as a NetCDF attribute: text and numbers as they are, booleans as 0/1,
    None as empty text, arrays as arrays, anything nested as JSON text."""
    if isinstance(value, bool | np.bool_):
        return int(value)
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, str | int | float | np.ndarray):
        return value
    if value is None:
        return ""
    return json.dumps(value, default=str)


def clean_attrs(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """Every attribute made NetCDF-safe by :func:`attr_value`."""
    return {str(k): attr_value(v) for k, v in attrs.items()}


def run_attrs(attrs: Mapping[str, Any], title: str) -> dict[str, Any]:
    """Global attributes of a run's dataset: CF ``Conventions``, ``title``, ``source``,
    ``history`` and the run's provenance (``attrs`` as :attr:`RunFile.attrs` decodes them)."""
    out: dict[str, Any] = {
        "Conventions": CONVENTIONS,
        "title": title,
        "source": f"mtj-hil {attrs.get('package_version', '')} ({attrs.get('git_revision', '')})",
        "history": f"{attrs.get('started', '')} run by mtj-hil: {attrs.get('command', '')}",
    }
    for key in PROVENANCE:
        if key in attrs:
            out[key] = attrs[key]
    for key in JSON_ATTRS:
        if key in attrs:
            value = attrs[key]
            out[key] = value if isinstance(value, str) else json.dumps(value, default=str)
    return clean_attrs(out)
