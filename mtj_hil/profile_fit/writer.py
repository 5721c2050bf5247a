"""Writing a fitted profile as TOML that loads like any other profile, with each value's
uncertainty and source as comments and in a ``[fit]`` table (``load_profile`` does not use
it but refuses any key this writer does not write: :mod:`mtj_hil.sim.fit_record`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from mtj_hil.errors import as_typed
from mtj_hil.fileio.atomic import atomic_write
from mtj_hil.profile_fit.fit import PASSIVE_ONLY, FittedProfile


def _toml_value(value: Any) -> str:
    if isinstance(value, list | tuple):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    return json.dumps(as_typed(str(value)))  # a name from the command line, in the C locale


def write_profile_toml(fp: FittedProfile, path: str | Path) -> Path:
    """Write the fitted profile as a loadable TOML file: each value commented with its
    uncertainty and source (or as a default), then a ``[fit]`` table with the same facts."""
    path = Path(path)
    data = fp.data
    lines = [
        "# Device profile fitted by mtj-hil fit-profile. Units SI. Each value carries its",
        "# standard uncertainty and source; 'default' = kept from the base profile (the runs",
        "# cannot tell it).",
        f"name = {_toml_value(data['name'])}",
        f"description = {_toml_value(data['description'])}",
    ]
    fixed = ("geometry", "resistance", "switching", "defects", "read", "limits", "nominal_pulse")
    optional = [k for k, v in data.items() if isinstance(v, dict) and k not in fixed]
    for section in (*fixed, *optional):
        lines += ["", f"[{section}]"]
        for key, value in data[section].items():
            full = f"{section}.{key}"
            note = ""
            if full in fp.values:
                fv = fp.values[full]
                if fv.sd is None:
                    note = f"  # set: {fv.source}"
                else:
                    note = f"  # fitted +- {fv.sd:.3g} ({fv.source})"
            elif full in fp.defaults:
                note = "  # default: the runs cannot tell"
            elif any(k.startswith(f"{full}[") for k in fp.values):
                note = "  # fitted (see [fit.uncertainty])"
            elif full in PASSIVE_ONLY and data["geometry"]["cell"] != "passive":
                note = "  # off: passive arrays only"
            elif section in ("geometry", "limits", "nominal_pulse"):
                note = "  # from the runs' recorded layout"
            lines.append(f"{key} = {_toml_value(value)}{note}")
    lines += ["", "[fit]"]
    lines.append("defaults = [" + ", ".join(json.dumps(d) for d in fp.defaults) + "]")
    lines.append("warnings = [" + ", ".join(json.dumps(w) for w in fp.warnings) + "]")
    for key, fv in fp.derived.items():
        lines.append(f"{key} = {_toml_value(float(fv.value))}  # {fv.source}")
        if fv.sd is not None:
            lines.append(f"{key}_sd = {_toml_value(float(fv.sd))}")
    lines += ["", "[fit.uncertainty]"]
    for key, fv in fp.values.items():
        if fv.sd is not None:
            lines.append(f'"{key}" = {_toml_value(float(fv.sd))}')
    lines += ["", "[fit.source]"]
    for key, fv in fp.values.items():
        lines.append(f'"{key}" = {_toml_value(fv.source)}')
    for run in fp.runs:
        lines += ["", "[[fit.runs]]"]
        lines += [f"{k} = {_toml_value(v)}" for k, v in run.items()]
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, ("\n".join(lines) + "\n").encode())  # whole or not at all
    return path
