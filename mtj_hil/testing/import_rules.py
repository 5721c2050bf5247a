"""The house's import rules as code: floors, forbidden imports, no cycles.

import-linter cannot read this project (its graph builder walks ``mtj_hil/`` on disk, while
``mtj_hil.instruments``, ``.protocols`` and ``.calibration`` install from the folders at the
top of the repository), so this module builds the same graph from the sources with ``ast``
and checks the same three kinds of contract: layers (imports only point down the floors),
forbidden imports, and acyclic siblings (no loop between the modules or sub-packages of any
package). ``python -m mtj_hil.testing.import_rules`` prints the violations (exit 1 if any);
the test suite runs it on every commit.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SOURCES = {
    "mtj_hil": "mtj_hil",
    "mtj_hil.instruments": "instruments",
    "mtj_hil.protocols": "protocols",
    "mtj_hil.calibration": "calibration",
}
"""Package name -> its folder (relative to the repository)."""
SKIPPED = ("mtj_hil.compat.shims",)
"""Deprecated top-level aliases: installed under other names, not part of the graph."""

FLOORS: tuple[tuple[str, ...], ...] = (
    ("mtj_hil.cli", "mtj_hil.api"),
    ("mtj_hil.campaigns",),
    ("mtj_hil.experiments",),
    (
        "mtj_hil.reports",
        "mtj_hil.live",
        "mtj_hil.profile_fit",
        "mtj_hil.training",
        "mtj_hil.labelled",
    ),
    ("mtj_hil.runs", "mtj_hil.station"),
    ("mtj_hil.sim",),
    ("mtj_hil.calibration",),
    ("mtj_hil.instruments", "mtj_hil.protocols"),
    ("mtj_hil.schema",),
    ("mtj_hil.errors", "mtj_hil.fileio", "mtj_hil.kinds", "mtj_hil.compat", "mtj_hil.examples"),
)
"""Top floor first. A module may import its own package, any lower floor, and nothing above;
packages on one floor are independent of each other."""

RUNTIME = tuple(p for floor in FLOORS for p in floor)

_LAYER_BANS: dict[str, tuple[str, ...]] = {
    "mtj_hil.protocols": (
        "h5py", "click", "rich", "matplotlib", "pyvisa", "serial", "pymeasure", "dask",
        "mtj_hil.instruments", "mtj_hil.sim", "mtj_hil.calibration", "mtj_hil.runs",
        "mtj_hil.station", "mtj_hil.cli",
    ),
    "mtj_hil.instruments": (
        "h5py", "click", "rich", "matplotlib", "sklearn", "dask",
        "mtj_hil.protocols", "mtj_hil.sim", "mtj_hil.calibration", "mtj_hil.runs",
        "mtj_hil.station", "mtj_hil.cli",
    ),
}  # fmt: skip
FORBIDDEN: dict[str, tuple[str, ...]] = {
    package: (*_LAYER_BANS.get(package, ()), "mtj_hil.testing") for package in RUNTIME
}
"""Source package -> modules (ours or third-party) it must never import, even lazily."""


@dataclass
class Graph:
    """Modules (dotted names) and their imports, each with the line it is on."""

    modules: set[str] = field(default_factory=set)
    packages: set[str] = field(default_factory=set)
    imports: dict[str, dict[str, int]] = field(default_factory=lambda: defaultdict(dict))
    files: dict[str, Path] = field(default_factory=dict)
    root: Path = ROOT


def build_graph(root: Path = ROOT, sources: dict[str, str] = SOURCES) -> Graph:
    """Parse every module of ``sources`` under ``root`` and record what it imports."""
    graph = Graph(root=root)
    for package, folder in sources.items():
        for path in sorted((root / folder).rglob("*.py")):
            parts = path.relative_to(root / folder).with_suffix("").parts
            is_package = parts[-1] == "__init__"
            name = ".".join((package, *(parts[:-1] if is_package else parts)))
            if name.startswith(SKIPPED) or (package == "mtj_hil" and _other_source(name)):
                continue
            graph.modules.add(name)
            graph.files[name] = path
            if is_package:
                graph.packages.add(name)
    for name, path in graph.files.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for target, line in _imports(tree, name, name in graph.packages, graph.modules):
            graph.imports[name].setdefault(target, line)
    return graph


def _other_source(name: str) -> bool:
    return any(name == p or name.startswith(p + ".") for p in SOURCES if p != "mtj_hil")


def _imports(
    tree: ast.Module, module: str, is_package: bool, modules: set[str]
) -> Iterable[tuple[str, int]]:
    here = module if is_package else module.rpartition(".")[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name, node.lineno
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = here.split(".")
                anchor = anchor[: len(anchor) - (node.level - 1)]
                base = ".".join(anchor + ([base] if base else []))
            for alias in node.names:
                full = f"{base}.{alias.name}"
                yield (full if full in modules else base), node.lineno


def _owner(module: str, packages: Iterable[str]) -> str | None:
    """The longest of ``packages`` that is ``module`` or contains it."""
    best = None
    for p in packages:
        if (module == p or module.startswith(p + ".")) and (best is None or len(p) > len(best)):
            best = p
    return best


def layer_violations(graph: Graph, floors=FLOORS) -> list[str]:  # noqa: ANN001
    """Imports that point up the floors, or across packages on one floor."""
    level = {p: i for i, floor in enumerate(floors) for p in floor}
    out = []
    for src, targets in sorted(graph.imports.items()):
        a = _owner(src, level)
        for dst, line in sorted(targets.items()):
            b = _owner(dst, level)
            if a is None or b is None or a == b:
                continue
            if level[b] < level[a]:
                out.append(f"{_where(graph, src, line)}: {src} imports {dst}, a floor above")
            elif level[b] == level[a]:
                out.append(f"{_where(graph, src, line)}: {src} imports {dst} on its own floor")
    return out


def forbidden_violations(graph: Graph, forbidden=FORBIDDEN) -> list[str]:  # noqa: ANN001
    """Imports that the source package must never make."""
    out = []
    for src, targets in sorted(graph.imports.items()):
        for package, banned in forbidden.items():
            if _owner(src, [package]) is None:
                continue
            for dst, line in sorted(targets.items()):
                hit = _owner(dst, banned)
                if hit is not None:
                    out.append(f"{_where(graph, src, line)}: {src} imports {dst} (forbidden)")
    return out


def cycles(graph: Graph) -> list[str]:
    """Loops between sibling modules or sub-packages, at every depth (like import-linter's
    ``acyclic_siblings``); each is named by its members and one import that closes it."""
    parents = {m.rpartition(".")[0] for m in graph.modules if "." in m}
    out = []
    for parent in sorted(parents):
        depth = parent.count(".") + 1
        edges: dict[str, dict[str, tuple[str, str, int]]] = defaultdict(dict)
        for src, targets in graph.imports.items():
            if not src.startswith(parent + ".") or src == parent:
                continue
            a = ".".join(src.split(".")[: depth + 1])
            for dst, line in targets.items():
                if not dst.startswith(parent + "."):
                    continue
                b = ".".join(dst.split(".")[: depth + 1])
                if a != b and b in graph.modules:
                    edges[a].setdefault(b, (src, dst, line))
        for component in _strongly_connected(edges):
            if len(component) > 1:
                ties = [
                    f"{s} -> {d} ({_where(graph, s, ln)})"
                    for a in sorted(component)
                    for b, (s, d, ln) in sorted(edges[a].items())
                    if b in component
                ]
                out.append(f"cycle {' <-> '.join(sorted(component))}: " + "; ".join(ties))
    return out


def _strongly_connected(edges: dict[str, dict[str, object]]) -> list[set[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[set[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = set()
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.add(w)
                if w == v:
                    break
            out.append(component)

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def _where(graph: Graph, module: str, line: int) -> str:
    path = graph.files.get(module)
    return f"{path.relative_to(graph.root) if path else module}:{line}"


def check(graph: Graph | None = None) -> list[str]:
    """Every violation of the house's import rules (empty when the house is in order)."""
    graph = graph or build_graph()
    return layer_violations(graph) + forbidden_violations(graph) + cycles(graph)


def main() -> int:
    graph = build_graph()
    problems = check(graph)
    for line in problems:
        print(line)
    n = sum(len(t) for t in graph.imports.values())
    print(f"import rules: {len(graph.modules)} modules, {n} imports, {len(problems)} violations")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
