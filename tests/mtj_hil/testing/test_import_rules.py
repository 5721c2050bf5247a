"""The house's import rules hold, and each rule can fail (mutations of the real graph)."""

from __future__ import annotations

import copy
import textwrap
from pathlib import Path

import pytest

from mtj_hil.testing import import_rules
from mtj_hil.testing.import_rules import build_graph, check, cycles, forbidden_violations


@pytest.fixture(scope="module")
def graph() -> import_rules.Graph:
    return build_graph()


def test_the_house_keeps_its_import_rules(graph):
    assert check(graph) == []
    # the graph covers all four source folders
    assert {"mtj_hil.instruments.smu.base", "mtj_hil.protocols.chip"} <= graph.modules
    assert "mtj_hil.calibration.records" in graph.modules
    assert "mtj_hil.cli.main" in graph.modules


def _mutant(graph, src: str, dst: str) -> list[str]:
    mutant = copy.deepcopy(graph)
    mutant.imports[src][dst] = 1
    return check(mutant)


@pytest.mark.parametrize(
    ("src", "dst", "words"),
    [
        ("mtj_hil.protocols.read", "h5py", "forbidden"),
        ("mtj_hil.protocols.read", "mtj_hil.instruments.errors", "own floor"),
        ("mtj_hil.instruments.safety", "mtj_hil.protocols.chip", "forbidden"),
        ("mtj_hil.sim.chip", "mtj_hil.station.chip", "a floor above"),
        ("mtj_hil.runs.store.runfile", "mtj_hil.cli.main", "a floor above"),
        ("mtj_hil.station.chip", "mtj_hil.runs.store.runfile", "own floor"),
        ("mtj_hil.campaigns.engine", "mtj_hil.testing.hostile_start", "forbidden"),
        ("mtj_hil.cli.common", "mtj_hil.cli.characterize", "cycle"),
        ("mtj_hil.sim.lab.smu.channel", "mtj_hil.sim.lab.smu.core", "cycle"),
    ],
)
def test_each_rule_catches_a_bad_import(graph, src, dst, words):
    assert src in graph.modules
    problems = _mutant(graph, src, dst)
    assert any(words in p and src in p for p in problems), problems


def test_a_cycle_between_packages_is_caught_not_only_between_modules(graph):
    # runs.jobs -> runs.store exists; store -> jobs closes a loop between two sub-packages
    problems = cycles(_with(graph, "mtj_hil.runs.store.runfile", "mtj_hil.runs.jobs.common"))
    assert any("mtj_hil.runs.jobs <-> mtj_hil.runs.store" in p for p in problems), problems


def _with(graph, src, dst):
    mutant = copy.deepcopy(graph)
    mutant.imports[src][dst] = 1
    return mutant


def test_the_parser_sees_lazy_relative_and_type_checking_imports(tmp_path: Path):
    pkg = tmp_path / "pkg"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "sub" / "__init__.py").write_text("")
    (pkg / "a.py").write_text(
        textwrap.dedent(
            """
            from typing import TYPE_CHECKING
            if TYPE_CHECKING:
                from pkg.sub import b
            def f():
                import h5py
                from .sub.b import thing
            """
        )
    )
    (pkg / "sub" / "b.py").write_text("from .. import a\n")
    graph = build_graph(root=tmp_path, sources={"pkg": "pkg"})
    assert {"pkg.sub.b", "h5py"} <= set(graph.imports["pkg.a"])
    assert "pkg.a" in graph.imports["pkg.sub.b"]
    assert forbidden_violations(graph, {"pkg": ("h5py",)})
    assert any("pkg.a <-> pkg.sub" in p for p in cycles(graph))


def test_the_command_line_entry_prints_the_count(capsys):
    assert import_rules.main() == 0
    assert "0 violations" in capsys.readouterr().out
