"""The example stations and campaigns ship with the package; ``mtj-hil examples`` copies them
out where they work as they do in the clone; LICENSE is there."""

from __future__ import annotations

import importlib.util
import shutil
import tomllib
from pathlib import Path

from mtj_hil.cli.main import main

ROOT = Path(__file__).resolve().parents[3]


def test_examples_are_copied_out_and_work_from_there(tmp_path, capsys):
    target = tmp_path / "mine"
    assert main(["examples", str(target)]) == 0
    for rel in ("stations/virtual-lab.toml", "stations/example-bench.toml",
                "campaigns/example-lot.toml"):  # fmt: skip
        assert (target / rel).read_bytes() == (ROOT / rel).read_bytes()
    assert main(["station", "check", str(target / "stations/virtual-lab.toml")]) == 0
    assert main(["campaign", "status", str(target / "campaigns/example-lot.toml")]) == 0
    capsys.readouterr()
    assert main(["examples", str(target)]) == 4  # never overwritten silently
    assert "exist(s) already" in capsys.readouterr().err
    assert main(["examples", str(target), "--force"]) == 0


def test_an_installed_package_finds_its_own_copy(tmp_path):
    """Installed, the examples sit beside mtj_hil/examples/__init__.py (package data)."""
    package = tmp_path / "site" / "mtj_hil" / "examples"
    package.mkdir(parents=True)
    shutil.copy(ROOT / "mtj_hil/examples/__init__.py", package / "__init__.py")
    for folder in ("stations", "campaigns"):
        shutil.copytree(ROOT / folder, package / folder, ignore=shutil.ignore_patterns("calib*"))
    spec = importlib.util.spec_from_file_location("installed_examples", package / "__init__.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    assert module.example_dir("stations") == package / "stations"
    assert set(module.example_files()) == {
        "stations/virtual-lab.toml", "stations/example-bench.toml", "campaigns/example-lot.toml"
    }  # fmt: skip


def test_packaging_ships_the_examples_and_the_license():
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    data = project["tool"]["setuptools"]["package-data"]
    assert data["mtj_hil.examples.stations"] == ["*.toml"]
    assert data["mtj_hil.examples.campaigns"] == ["*.toml"]
    setup = (ROOT / "setup.py").read_text()
    assert 'package_dir[f"mtj_hil.examples.{folder}"] = folder' in setup
    license_text = (ROOT / "LICENSE").read_text()
    assert "BSD 3-Clause License" in license_text and "the mtj-hil developers" in license_text
    assert project["project"]["license"] == {"text": "BSD-3-Clause"}
