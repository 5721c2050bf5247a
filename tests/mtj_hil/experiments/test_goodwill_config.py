"""The Goodwill experiment's counts are capped like the Borders experiment's: refused before
any work, naming the allowed range, and the range is stated in ``--help``."""

from __future__ import annotations

import math

import pytest

import mtj_hil.experiments.goodwill as goodwill_module
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.experiments.goodwill import GoodwillConfig
from mtj_hil.experiments.goodwill_config import MAX_RESTARTS, MAX_SOLUTIONS
from mtj_hil.training.bnn import MAX_EPOCHS


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("epochs", MAX_EPOCHS + 1),
        ("epochs", 10**26),
        ("epochs", math.nan),
        ("epochs", 0),
        ("solutions", MAX_SOLUTIONS + 1),
        ("solutions", 2.5),
        ("restarts", MAX_RESTARTS + 1),
        ("restarts", 0),
    ],
)
def test_an_out_of_range_count_is_refused_naming_the_range(key, value):
    cap = {"epochs": MAX_EPOCHS, "solutions": MAX_SOLUTIONS, "restarts": MAX_RESTARTS}[key]
    with pytest.raises(ConfigError, match=key) as info:
        GoodwillConfig(**{key: value})
    assert f"an integer in [1, {cap}]" in str(info.value)


def test_counts_at_their_caps_are_accepted():
    config = GoodwillConfig(solutions=MAX_SOLUTIONS, epochs=MAX_EPOCHS, restarts=MAX_RESTARTS)
    assert (config.solutions, config.epochs, config.restarts) == (
        MAX_SOLUTIONS,
        MAX_EPOCHS,
        MAX_RESTARTS,
    )
    assert GoodwillConfig(epochs=3.0).epochs == 3  # an integer given as a float


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--epochs", MAX_EPOCHS + 1),
        ("--solutions", MAX_SOLUTIONS + 1),
        ("--restarts", MAX_RESTARTS + 1),
    ],
)
def test_the_command_refuses_before_any_work(tmp_path, capsys, monkeypatch, option, value):
    def must_not_run(*args, **kwargs):
        raise AssertionError("the experiment ran")

    monkeypatch.setattr(goodwill_module, "run_goodwill", must_not_run)
    args = ["experiment", "goodwill", option, str(value), "--out-dir", str(tmp_path / "out")]
    assert main(args) != 0
    err = capsys.readouterr().err
    assert option in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_help_states_the_ranges(capsys):
    main(["experiment", "goodwill", "--help"])
    text = " ".join(capsys.readouterr().out.split())
    for cap in (MAX_SOLUTIONS, MAX_EPOCHS, MAX_RESTARTS):
        assert f"1<=x<={cap}" in text
