"""List options (``--arrays``, ``--amplitudes``, ``--widths``, ``--loop-devices``): their
text is checked while the command line is read, so a malformed one is a bad command line
(exit 2, naming the option) like a malformed number option, not a configuration error."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import click

from mtj_hil.errors import ConfigError

PLAIN_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
"""A number as a person types it, in ASCII digits: ``float()`` also takes ``1_0`` (10) and
other scripts' digits (``'٠.٥'``, 0.5), which a list option refuses."""


def plain_number(word: str) -> float:
    """``word`` (spaces around it allowed) as a float: a :data:`PLAIN_NUMBER`, or ``nan`` or
    ``inf`` (for the caller to refuse as not finite, saying so).

    Raises:
        ValueError: anything else.
    """
    word = word.strip()
    if PLAIN_NUMBER.fullmatch(word) or word.lower().lstrip("+-") in ("nan", "inf", "infinity"):
        return float(word)
    raise ValueError(f"{word!r} is not a plain number")


def checked_by(parse: Callable[[str], Any]) -> Callable[..., str | None]:
    """A click callback that reads a list option's text with ``parse`` (which raises
    :class:`ConfigError` saying ``--option 'text' ...``) and passes the text on unchanged;
    a refusal becomes ``click.BadParameter`` (exit 2) naming the option."""

    def check(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            parse(value)
        except ConfigError as exc:
            flag = param.opts[0] if param.opts else f"--{param.name}"
            raise click.BadParameter(str(exc).removeprefix(f"{flag} "), ctx, param) from None
        return value

    return check
