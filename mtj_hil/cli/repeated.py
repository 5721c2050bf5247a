"""Refuse an option given twice with two different values.

click keeps the last of a repeated option silently, so ``--read-voltage 0.1 ...
--read-voltage 0.3`` measures at 0.3 V whatever the first was meant to say; on a bench a
pasted or half-edited command line would then reach the instruments with a value its
writer did not see. Given twice with one value it is harmless and accepted; options made
to repeat (``multiple``, counts) are left to click.
"""

from __future__ import annotations

import os

import click


def refuse_conflicting_options(root: click.Group, args: list[str]) -> None:
    """Walk ``args`` (after ``mtj-hil``) through ``root``'s commands and raise if one
    command's option is given twice with different values (a flag and its ``--no-`` twin
    count as one option).

    Tokens this walk does not understand (unknown options, missing values) are left for
    click's own parser, which reports them; a line asking for ``--help`` runs nothing and is
    not checked.

    Raises:
        click.UsageError: the option, both values, and to give it once.
    """
    command: click.Command = root
    tokens = list(args)
    if {"-h", "--help"} & set(tokens[: tokens.index("--") if "--" in tokens else None]):
        return  # the help is shown, nothing runs
    while True:
        sub_at = _check_one(command, tokens)
        if sub_at is None or not isinstance(command, click.Group):
            return
        sub = command.commands.get(tokens[sub_at])
        if sub is None:
            return
        command, tokens = sub, tokens[sub_at + 1 :]


def _check_one(command: click.Command, tokens: list[str]) -> int | None:
    """Check ``command``'s options in ``tokens``; the index of the first positional token
    (a group's subcommand), or None."""
    names: dict[str, tuple[click.Option, bool]] = {}
    for param in command.params:
        if isinstance(param, click.Option) and not (param.multiple or param.count):
            names.update({n: (param, True) for n in param.opts})
            names.update({n: (param, False) for n in param.secondary_opts})
    given: dict[str, tuple[str, str]] = {}  # option name -> (spelling, value) first seen
    i = 0
    while i < len(tokens):
        token = tokens[i]
        if token == "--":
            return None
        name, value, step = _option_at(tokens, i, names)
        if name is None:
            positional = not token.startswith("-") or token == "-" or _is_number(token)
            if positional and isinstance(command, click.Group):
                return i
            i += step
            continue
        param = names[name][0]
        first = given.setdefault(param.name or name, (name, value))
        if not _same(param, first[1], value):
            if param.is_flag:
                raise click.UsageError(f"{first[0]} and {name} both given; give one of them")
            raise click.UsageError(
                f"{first[0]} given twice with different values ({first[1]!r}, then "
                f"{value!r}); give it once"
            )
        i += step
    return None


def _option_at(
    tokens: list[str], i: int, names: dict[str, tuple[click.Option, bool]]
) -> tuple[str | None, str, int]:
    """The option name at ``tokens[i]`` (None: not one of ``names``), its value as typed
    (a flag's: which spelling), and how many tokens it takes."""
    token = tokens[i]
    head, eq, tail = token.partition("=")
    if token.startswith("--") and head in names:
        param, positive = names[head]
        if param.is_flag:
            return head, str(positive), 1
        if eq:
            return head, tail, 1
        return (head, tokens[i + 1], 2) if i + 1 < len(tokens) else (None, "", 1)
    short = token[:2]
    if token.startswith("-") and not token.startswith("--") and short in names:
        param, positive = names[short]
        if param.is_flag:
            return (short, str(positive), 1) if len(token) == 2 else (None, "", 1)
        if len(token) > 2:
            return short, token[2:], 1
        return (short, tokens[i + 1], 2) if i + 1 < len(tokens) else (None, "", 1)
    return None, "", 1


def _same(param: click.Option, first: str, second: str) -> bool:
    """Whether two values as typed say the same to ``param``'s type: numbers of a float
    option by value (``0.1`` and ``1e-1``), of an integer one as integers (exactly, however
    large), paths once normalised (``./x.h5`` and ``x.h5``), anything else as typed."""
    if first == second:
        return True
    kind = param.type
    try:
        if isinstance(kind, click.types.FloatParamType):
            return float(first) == float(second)
        if isinstance(kind, click.types.IntParamType):
            return int(first) == int(second)
    except ValueError:
        return False  # click's parser names the value it cannot read
    if isinstance(kind, click.Path):
        return os.path.normpath(first) == os.path.normpath(second)
    return False


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True
