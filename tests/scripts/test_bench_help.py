"""Every script's ``--help`` explains it: the docstring's whole first paragraph as the
description (not a first line cut mid-sentence) and a help text on every option; the
training bench's defaults are the library's (``BordersConfig``), not copies.

Each script's parser is caught in-process as it parses (``--help`` is never printed), so
the check costs an import per script, not a process.
"""

from __future__ import annotations

import argparse
import ast
import runpy
import sys
from pathlib import Path

import pytest

from mtj_hil.experiments.borders import BordersConfig

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "scripts"
WITH_OPTIONS = sorted(
    p for p in SCRIPTS.glob("*.py") if not p.name.startswith("_") and "argparse" in p.read_text()
)


BENCH_OWN = {
    "dies": "the size the issue's figure is stated for",
    "lot_seed": "a lot no test uses",
    "workers": "the goal's 2 cores",
    "hidden": "one width here, a tuple there (compared on its own)",
}
"""bench_training options whose default is the bench's own choice, and why."""


class _Caught(Exception):
    """Raised in place of parsing, carrying the parser the script built."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        super().__init__("parser caught")
        self.parser = parser


def script_parser(script: Path, monkeypatch: pytest.MonkeyPatch) -> argparse.ArgumentParser:
    """The argument parser ``script`` builds when run with no arguments."""

    def catch(self: argparse.ArgumentParser, *args: object, **kwargs: object) -> None:
        raise _Caught(self)

    monkeypatch.syspath_prepend(str(SCRIPTS))
    monkeypatch.setattr(sys, "argv", [str(script)])
    monkeypatch.setattr(argparse.ArgumentParser, "parse_known_args", catch)
    try:
        runpy.run_path(str(script), run_name="__main__")
    except _Caught as caught:
        return caught.parser
    raise AssertionError(f"{script.name} parsed no arguments")


def _words(text: str) -> str:
    return " ".join(text.split())


def test_scripts_with_options_are_found() -> None:
    names = {p.stem for p in WITH_OPTIONS}
    assert {"bench_training", "bench_sim", "bench_fuzz", "file_formats"} <= names


@pytest.mark.parametrize("script", WITH_OPTIONS, ids=lambda p: p.stem)
def test_help_explains_the_script_and_every_option(
    script: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parser = script_parser(script, monkeypatch)
    doc = ast.get_docstring(ast.parse(script.read_text(encoding="utf-8"))) or ""
    first_paragraph = _words(doc.split("\n\n")[0])
    assert first_paragraph, f"{script.name} has no docstring to describe it"
    assert first_paragraph in _words(parser.description or ""), (
        f"{script.name}: --help does not show the docstring's first paragraph whole: "
        f"{parser.description!r}"
    )
    silent = [
        action.option_strings[0] if action.option_strings else action.dest
        for action in parser._actions
        if not isinstance(action, argparse._HelpAction) and not (action.help or "").strip()
    ]
    assert not silent, f"{script.name}: options without a help text: {silent}"


def test_training_bench_defaults_are_the_librarys(monkeypatch: pytest.MonkeyPatch) -> None:
    """The bench runs what ``mtj-hil experiment borders`` runs unless told otherwise."""
    parser = script_parser(SCRIPTS / "bench_training.py", monkeypatch)
    monkeypatch.undo()
    args = vars(parser.parse_args([]))
    config = BordersConfig()
    shared = {k: v for k, v in args.items() if hasattr(config, k)}
    assert len(shared) >= 15, sorted(shared)
    assert (args.pop("hidden"),) == config.hidden
    differ = {
        k: (v, getattr(config, k))
        for k, v in shared.items()
        if k not in BENCH_OWN and v != getattr(config, k)
    }
    assert not differ, f"bench defaults that are not BordersConfig's: {differ}"
