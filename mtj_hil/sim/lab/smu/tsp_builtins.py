"""The parts of Lua's base library TSP clients send (Lua 5.0 reference manual, "Basic
functions", as the 2600B runs it): ``_G`` (the global table), ``next``, ``type``,
``getmetatable``, ``tostring``, ``tonumber``.

Drivers that discover the instrument's commands (the ``keithley2600`` package) walk the
global table with ``next(_G, key)`` and ask ``type(x)``; here every instrument object
(:class:`~mtj_hil.sim.lab.smu.tsp.TspObject`) is a table whose keys are its attributes.
"""

from __future__ import annotations

from typing import Any

from mtj_hil.sim.lab.smu.tsp import TspFunction, TspObject, TspTable, runtime_error

__all__ = ["GlobalTable", "base_library", "lua_type"]


class GlobalTable(TspObject):
    """``_G``: the global environment seen as a table."""

    def __init__(self, env: dict[str, Any]) -> None:
        super().__init__("_G")
        self.env = env

    def get(self, key: str) -> Any:
        return self.env.get(key)

    def set(self, key: str, value: Any) -> None:
        self.env[key] = value


def lua_type(value: Any) -> str:
    """Lua's ``type()`` of a Python value of the interpreter."""
    if value is None:
        return "nil"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, TspFunction) or callable(value):
        return "function"
    return "table"


def _keys(table: Any) -> list[Any]:
    if isinstance(table, GlobalTable):
        return list(table.env)
    if isinstance(table, TspObject):
        return list(table.attrs)
    if isinstance(table, TspTable):
        return [float(k) for k in range(1, len(table) + 1)]
    raise runtime_error(f"bad argument #1 to 'next' (table expected, got {lua_type(table)})")


def _value(table: Any, key: Any) -> Any:
    if isinstance(table, TspTable):
        return table[int(key) - 1]
    return table.get(key)


def _next(table: Any = None, key: Any = None) -> Any:
    """``next(t, k)``: the key after ``k`` (the first for nil) and its value, or nil."""
    keys = _keys(table)
    if key is None:
        k = 0
    elif key in keys:
        k = keys.index(key) + 1
    else:
        raise runtime_error("invalid key to 'next'")
    if k >= len(keys):
        return None
    return (keys[k], _value(table, keys[k]))


def _tonumber(value: Any = None, *rest: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    try:
        return float(str(value))
    except ValueError:
        return None


def base_library(env: dict[str, Any], text: Any) -> dict[str, Any]:
    """The base-library globals for ``env``; ``text`` renders a value as ``print`` does."""
    return {
        "_G": GlobalTable(env),
        "next": TspFunction(_next, "next"),
        "type": TspFunction(lambda v=None, *r: lua_type(v), "type"),
        "getmetatable": TspFunction(lambda *a: None, "getmetatable"),
        "tostring": TspFunction(lambda v=None, *r: text(v), "tostring"),
        "tonumber": TspFunction(_tonumber, "tonumber"),
    }
