"""Number options of the command line: finite only.

``click.FloatRange`` lets ``nan`` through (every comparison with NaN is false) and, without
a bound on that side, ``inf``; ``type=float`` takes both too. A number a person types is a
setting, so both are refused here as a bad command line (exit 2), before any library check
sees them.
"""

from __future__ import annotations

import math
from typing import Any

import click


def _finite(
    value: Any, param: click.Parameter | None, ctx: click.Context | None, fail: Any
) -> float:
    """``value`` as a float; ``fail`` (a ParamType's) for a non-number, ``nan`` or ``inf``."""
    number = click.FLOAT.convert(value, param, ctx)
    if not math.isfinite(number):
        fail(f"{value!r} is not a finite number; give one like 0.1 or 1e-6", param, ctx)
    return number


class FiniteFloat(click.types.FloatParamType):
    """Any finite number."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return _finite(value, param, ctx, self.fail)


class FiniteRange(click.FloatRange):
    """``click.FloatRange`` refusing ``nan``, ``inf`` and ``-inf``."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        return super().convert(_finite(value, param, ctx, self.fail), param, ctx)


FINITE = FiniteFloat()
"""Any finite number (the ``type=float`` of an option without bounds)."""
