"""Counts in messages are worded for 1 as for N: "1 unfinished run", "2 unfinished runs"."""

from __future__ import annotations

import pytest

from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError, counted
from mtj_hil.experiments.lea import parse_copies
from mtj_hil.runs.store.select import skipped_note


def test_counted_says_one_thing_and_many_things():
    assert counted(1, "run") == "1 run"
    assert counted(0, "run") == "0 runs"
    assert counted(3, "run") == "3 runs"
    assert counted(2, "copy", "copies") == "2 copies"


def test_one_skipped_run_is_singular_and_several_plural():
    one = skipped_note(["a.h5 (failed)"])
    assert one.startswith("skipped 1 unfinished run (") and "finish it with --resume" in one
    two = skipped_note(["a.h5 (failed)", "b.h5 (aborted)"])
    assert two.startswith("skipped 2 unfinished runs (") and "finish them with" in two


def test_characterising_one_array_for_one_cycle_says_so(tmp_path, capsys):
    args = ["characterize", "--arrays", "0", "--cycles", "1", "--no-report"]
    assert main([*args, "--out", str(tmp_path / "c.h5")]) == 0
    err = " ".join(capsys.readouterr().err.split())
    assert ": 1 array, 1 cycle per state," in err


def test_copies_for_a_one_layer_network_ask_for_one_value():
    with pytest.raises(ConfigError, match=r"need 1 value >= 1 \(one per layer\)"):
        parse_copies("2,2", 1)
