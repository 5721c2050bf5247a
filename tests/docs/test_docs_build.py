"""The documentation site builds with ``mkdocs build --strict`` (no broken link, no page left
out of the navigation, no docstring the API reference cannot read), and its API reference
documents every name of the Python API."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

import mtj_hil

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.slow
def test_the_site_builds_strictly_with_the_whole_api(tmp_path: Path):
    site = tmp_path / "site"
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--site-dir", str(site)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr[-4000:]
    api = (site / "api" / "index.html").read_text()
    for name in mtj_hil.__all__:
        module = getattr(mtj_hil, name).__module__
        assert f'id="{module}.{name}"' in api, name
    pages = {p.stem for p in (ROOT / "docs").glob("*.md")}
    for page in pages - {"index"}:
        assert (site / page / "index.html").exists(), page
