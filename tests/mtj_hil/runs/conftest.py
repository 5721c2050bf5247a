"""Fixtures of the run-file tests."""

from __future__ import annotations

import pytest

from mtj_hil.cli import main


@pytest.fixture
def run_file(tmp_path):
    """A completed characterisation run file of one array of a small passive die."""
    path = tmp_path / "run.h5"
    args = ["characterize", "--profile", "passive-15x15", "--arrays", "0", "--no-report"]
    assert main([*args, "--out", str(path)]) == 0
    return path
