"""The free-text labels a command records in its run file or calibration record (``--die-id``,
``--operator``): one check, shared by every command that takes them."""

from __future__ import annotations

import unicodedata

import click

from mtj_hil.errors import as_typed

_WHAT = {
    "die_id": ("names no die", "the mounted die's label"),
    "operator": ("names no one", "who ran it"),
}


def checked_label(ctx: click.Context, param: click.Parameter, value: str | None) -> str | None:
    """A click callback for a label option: ``value`` as given, or None when not given.

    Raises:
        click.UsageError: a blank label, or one holding a control character (a newline, a
            tab): it would be recorded, and printed, as no label or on several lines; or
            bytes that are not UTF-8 text.
    """
    del ctx
    if value is None:
        return None
    flag = param.opts[0] if param.opts else f"--{param.name}"
    nothing, wanted = _WHAT.get(param.name or "", ("names nothing", "a label"))
    try:
        value = as_typed(value, errors="strict")  # 'wafer-µ1' typed in the C locale
    except UnicodeDecodeError:
        raise click.UsageError(
            f"{flag} {value!r} is not UTF-8 text; give {wanted} in UTF-8"
        ) from None
    if not value.strip():
        raise click.UsageError(f"{flag} {value!r} {nothing}; give {wanted}")
    if any(unicodedata.category(c) in ("Cc", "Zl", "Zp") for c in value):
        raise click.UsageError(
            f"{flag} {value!r} holds a control character (a newline or a tab); give {wanted} "
            "on one line"
        )
    return value
