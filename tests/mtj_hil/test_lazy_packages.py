"""Packages that re-export a public API load it on first use (mtj_hil.compat.lazy): every
name of their ``__all__`` still imports from the package, and importing one small module of
a package (its ``errors``, as ``mtj-hil`` does at start-up) does not import its heavy parts."""

from __future__ import annotations

import ast
import importlib
import json
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

LAZY = ("mtj_hil.calibration", "mtj_hil.protocols", "mtj_hil.sim", "mtj_hil.training")
"""The packages whose ``__init__`` re-exports lazily."""

HEAVY = ("scipy", "pandas", "pymeasure", "h5py", "numpy")


def _fresh(code: str, cwd: Path | None = None) -> dict:
    """Run ``code`` in a new interpreter; what it printed as JSON on its last line."""
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=cwd,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.splitlines()[-1])


@pytest.mark.parametrize("package", LAZY)
def test_every_public_name_imports_from_the_package_and_none_is_loaded_before(package):
    got = _fresh(
        f"""
        import importlib, json
        package = importlib.import_module({package!r})
        names = package.__all__
        not_loaded = sorted(set(dir(package)) - set(vars(package)))
        missing = []
        for name in names:
            try:
                exec(f"from {package} import {{name}}", {{}})
            except ImportError as exc:
                missing.append(f"{{name}}: {{exc}}")
        star = {{}}
        exec(f"from {package} import *", star)
        print(json.dumps({{"all": names, "not_loaded": not_loaded, "missing": missing,
                          "star": sorted(n for n in star if n != "__builtins__")}}))
        """
    )
    assert got["missing"] == []
    assert got["not_loaded"] == sorted(got["all"])  # none imported with the package
    assert got["star"] == sorted(got["all"])


def _type_checking_imports(package: str) -> dict[str, str]:
    """Name -> module of the imports under ``if TYPE_CHECKING:`` in ``package``'s ``__init__``."""
    path = importlib.util.find_spec(package).origin
    tree = ast.parse(Path(path).read_text(encoding="utf-8"))
    found = {}
    for node in tree.body:
        if isinstance(node, ast.If) and ast.unparse(node.test) == "TYPE_CHECKING":
            for statement in node.body:
                assert isinstance(statement, ast.ImportFrom), ast.unparse(statement)
                found.update({a.asname or a.name: statement.module for a in statement.names})
    return found


@pytest.mark.parametrize("package", LAZY)
def test_the_type_checking_imports_are_what_the_package_gives(package):
    """What type checkers and readers see is what the package gives, name for name."""
    module = importlib.import_module(package)
    imports = _type_checking_imports(package)
    assert sorted(imports) == sorted(module.__all__)
    for name, source in imports.items():
        assert getattr(module, name) is getattr(importlib.import_module(source), name), name


def test_the_errors_modules_import_nothing_heavy():
    got = _fresh(
        f"""
        import json, sys
        import mtj_hil.calibration.errors, mtj_hil.protocols.errors
        import mtj_hil.instruments.errors, mtj_hil.training.errors
        errors = [m for m in {HEAVY!r} if m in sys.modules]
        import mtj_hil.sim.profile  # mtj-hil profiles: numpy, not the simulated chip
        profile = [m for m in {HEAVY!r} if m in sys.modules]
        print(json.dumps([errors, profile]))
        """
    )
    assert got == [[], ["numpy"]]


def test_a_submodule_is_an_attribute_of_its_package_and_other_names_are_not():
    """As when the package imported its submodules at load time."""
    got = _fresh(
        """
        import json, sys
        import mtj_hil.protocols as protocols
        read = protocols.read
        try:
            protocols.no_such_name
        except AttributeError as exc:
            missing = str(exc)
        print(json.dumps({"read": read is sys.modules["mtj_hil.protocols.read"],
                          "missing": missing, "private": hasattr(protocols, "_nothing")}))
        """
    )
    assert got == {
        "read": True,
        "missing": "module 'mtj_hil.protocols' has no attribute 'no_such_name'",
        "private": False,
    }


def test_the_deprecated_top_level_names_give_the_lazy_names(tmp_path):
    """``import protocols`` (0.1) is the package itself: its names load as they do from
    ``mtj_hil.protocols``."""
    got = _fresh(
        """
        import json, warnings
        warnings.simplefilter("ignore", DeprecationWarning)
        import calibration, protocols
        import mtj_hil.calibration, mtj_hil.protocols
        from protocols import characterize_die, CellState
        from calibration import CalibrationRecord
        print(json.dumps([
            characterize_die is mtj_hil.protocols.characterize_die,
            CellState is mtj_hil.protocols.CellState,
            CalibrationRecord is mtj_hil.calibration.CalibrationRecord,
        ]))
        """,
        cwd=tmp_path,  # not the repository, whose top-level folders would be found first
    )
    assert got == [True, True, True]
