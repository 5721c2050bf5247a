"""Exceptions raised by the application layer (configuration, run files), the warnings a
user must see (:func:`tell_user`), the wording of counts in messages (:func:`counted`) and
of the commands they suggest (:func:`command_line`), and command-line words as typed
(:func:`as_typed`)."""

from __future__ import annotations

import logging
import os
import re
import shlex
import warnings


class ConfigError(ValueError):
    """A profile, station file or command option is malformed or out of range.

    The message names the file (if any), the key and what is allowed.
    """


class StoreError(RuntimeError):
    """A run file cannot be created, opened, resumed or read (foreign, damaged, exists)."""


class UnsafeShutdownWarning(UserWarning):
    """A shutdown after Ctrl-C (or a stop signal) could not confirm the bench safe: the
    controller board did not confirm its lines at 0 V, or an SMU output was not confirmed
    off. Said while the interrupt goes on (the message says what to check by hand)."""


class UnverifiedCopyWarning(UserWarning):
    """A run file read from Python was rewritten without its checksum header (an h5py or
    h5repack copy): its datasets are checked, its attributes (die id, plan, fits) are not."""


class FallbackWarning(UserWarning):
    """The bench takes a slower path than it was built for (e.g. a controller board whose
    firmware runs no board-side sequences): the results are the same, the run is slower."""


def tell_user(logger: logging.Logger, message: str, category: type[Warning]) -> None:
    """Say ``message`` to the user: as a warning of ``category`` (``mtj-hil`` prints it as
    one ``warning (Category): ...`` line on stderr), and logged on ``logger`` when a handler
    takes it (during a run, the run file's timeline records it). With no handler at all it
    is not logged, so logging's last-resort handler does not print it a second time."""
    if logger.hasHandlers():
        logger.warning("%s", message)
    warnings.warn(message, category, stacklevel=3)


def counted(n: int, noun: str, plural: str | None = None) -> str:
    """``n`` and ``noun`` as a message says them: ``"1 run"``, ``"3 runs"``, ``"0 runs"``.

    ``plural`` is the plural form when it is not ``noun + "s"``."""
    return f"{n} {noun if n == 1 else plural or noun + 's'}"


def command_line(*words: object) -> str:
    """The ``mtj-hil`` command of ``words`` as a message suggests it, to copy into a shell:
    each word quoted where the shell would split or read it (a space, a ``;``); a plain path
    prints as written, e.g. ``mtj-hil show runs/a.h5``, ``mtj-hil show 'my run.h5'``.

    A path (an ``os.PathLike`` word) whose name begins with ``-`` is written ``./-run.h5``,
    which no command reads as an option; a word holding a line break, a tab or another
    control character is written in bash's ``$'...'`` form (``$'a\\nb.h5'``), so the command
    stays on the message's one line and pastes whole."""
    return " ".join(shell_word(w) for w in ("mtj-hil", *words))


def shell_word(word: object) -> str:
    """``word`` as a shell command line spells it (see :func:`command_line`)."""
    text = str(word)
    if isinstance(word, os.PathLike) and text.startswith("-"):
        text = f"./{text}"
    if not _has_control(text):
        return shlex.quote(text)
    return f"$'{control_escaped(text, _ESCAPES)}'"


def _has_control(text: str) -> bool:
    return any(c < " " or c == "\x7f" for c in text)


def control_escaped(text: str, escapes: dict[str, str] | None = None) -> str:
    """``text`` with each control character written as its backslash escape (``\\n``,
    ``\\t``, ``\\x1b``), and the characters in ``escapes`` as it gives them."""
    table = _CONTROL_ESCAPES if escapes is None else escapes
    return "".join(
        table.get(c) or (f"\\x{ord(c):02x}" if c < " " or c == "\x7f" else c) for c in text
    )


def typed_names_shown(text: str, typed: list[str]) -> str:
    """``text`` (a message) with each name from the command line ``typed`` that holds a
    control character shown with its escapes: a line break inside a file name would
    otherwise print as a space, naming another file. Every part of a typed path between
    ``/`` (and an option's ``=value``) is looked for, so a name in a path the message
    builds from it is found too."""
    for word in typed:
        for part in sorted(set(re.split(r"[/=]", word)), key=len, reverse=True):
            if part and _has_control(part):
                text = text.replace(part, control_escaped(part))
    return text


_ESCAPES = {"\\": "\\\\", "'": "\\'", "\n": "\\n", "\t": "\\t", "\r": "\\r"}
"""Characters bash's ``$'...'`` quoting writes with a backslash."""

_CONTROL_ESCAPES = {"\n": "\\n", "\t": "\\t", "\r": "\\r"}
"""Control characters a message writes as their short escapes (others as ``\\xNN``)."""


def blank_edge_hint(path: str | os.PathLike) -> str:
    """What a message saying ``path`` does not exist adds when its name begins or ends in
    a space or tab, which the message would not show: the name quoted, and the file of
    the name without them if there is one ("" for any other name)."""
    name = os.path.basename(os.fspath(path))
    stripped = name.strip()
    if name == stripped or not stripped:
        return ""
    where = [
        side for side, cut in (("begins", name.lstrip()), ("ends", name.rstrip())) if cut != name
    ]
    said = f" (its name {name!r} {' and '.join(where)} with a space or tab"
    other = os.path.join(os.path.dirname(os.fspath(path)), stripped)
    return said + (f"; {other} exists)" if os.path.lexists(other) else ")")


def as_typed(word: str, errors: str = "backslashreplace") -> str:
    """A command-line ``word``, or a path made from one, as the user typed it. In a locale
    whose encoding lacks its letters (``LC_ALL=C`` without Python's UTF-8 mode) Python hands
    the bytes of ``mesure-été`` over as surrogates, which neither HDF5 nor TOML can store;
    they are read as the UTF-8 they almost always are. Bytes that are not UTF-8 are decoded
    with ``errors`` (by default escaped, ``\\xe9``; ``"strict"``: ``UnicodeDecodeError``).
    Any other word is returned as it is."""
    if not any("\udc80" <= c <= "\udcff" for c in word):
        return word
    # (not os.fsencode: a text holding a typed path next to letters read from a UTF-8 file
    # cannot be encoded in the C locale's ASCII)
    return word.encode("utf-8", "surrogateescape").decode("utf-8", errors)


def apart(value: float, *bounds: float, spec: str = "g", bound_spec: str = "g") -> list[str]:
    """``value`` and the ``bounds`` it is compared with, as a refusal message prints them.

    Each in its short form (``spec`` for the value, ``bound_spec`` for the bounds) unless the
    short forms would hide how the value compares with a bound (a value one ulp above 1.2
    printed as ``1.2``, next to a limit printed as ``1.2``); then all of them exactly
    (``repr``), e.g. ``1.2000000000000002`` against ``1.2``. NaN is printed as ``nan``."""
    texts = [format(float(value), spec), *(format(float(b), bound_spec) for b in bounds)]
    shown = float(texts[0])
    for text, bound in zip(texts[1:], bounds, strict=True):
        if (value > bound) != (shown > float(text)) or (value < bound) != (shown < float(text)):
            return [repr(float(x)) for x in (value, *bounds)]
    return texts
