"""The ``--smoke`` flag every benchmark script takes: its own code path at a tiny size.

A script declares its options with their full-run defaults as usual and hands
:func:`parse_args` the few of them a smoke run shrinks. ``--smoke`` only replaces those
defaults (options given on the command line still win), so the full run and the smoke run
share one set of defaults and one code path. A smoke run prints the same kind of figures;
at its size they are not expected to meet the goals.
"""

from __future__ import annotations

import argparse
from collections.abc import Mapping, Sequence
from typing import Any


def bench_description(doc: str | None) -> str:
    """A script's ``--help`` description: the first paragraph of its docstring as one
    line (a first line alone may stop mid-sentence)."""
    return " ".join((doc or "").strip().split("\n\n")[0].split())


def describe(smoke: Mapping[str, Any]) -> str:
    """The smoke overrides as command-line options, e.g. ``--dies 1 --skip-lab``."""
    words = []
    for dest, value in smoke.items():
        flag = "--" + dest.replace("_", "-")
        words.append(flag if value is True else f"{flag} {value}")
    return " ".join(words)


def parse_args(
    parser: argparse.ArgumentParser,
    smoke: Mapping[str, Any],
    argv: Sequence[str] | None = None,
) -> argparse.Namespace:
    """Add ``--smoke`` to ``parser`` and parse ``argv`` (default: the command line).

    With ``--smoke`` the defaults named in ``smoke`` (option dest -> value) are replaced by
    its values; everything else, including options given explicitly, is parsed as usual.

    Raises:
        ValueError: ``smoke`` names an option the parser does not have.
    """
    known = vars(parser.parse_known_args([])[0])
    unknown = sorted(set(smoke) - set(known))
    if unknown:
        raise ValueError(f"smoke overrides name no option of this script: {unknown}")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="run the same code path at a tiny size in seconds ("
        + describe(smoke).replace("%", "%%")
        + "); checks that the script still runs, its figures do not meet the goals",
    )
    first, _ = parser.parse_known_args(argv)
    if first.smoke:
        parser.set_defaults(**smoke)
    return parser.parse_args(argv)
