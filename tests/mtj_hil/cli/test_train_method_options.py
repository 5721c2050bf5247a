"""Options that only one training method uses are refused with the others (exit 2, one line
naming the option and its method), instead of being ignored silently."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.experiments.single import TrainSpec


def _train(tmp_path, *extra: str) -> list[str]:
    return ["train", "--die", "0", "--out", str(tmp_path / "n.h5"), *extra]


@pytest.mark.parametrize(
    "method", ["unaware", "defect-aware", "statistics-aware", "chip-in-the-loop"]
)
def test_copies_with_a_method_other_than_lea_is_a_usage_error(method, tmp_path, capsys):
    def no_training(spec):
        raise AssertionError("trained despite the usage error")

    with pytest.MonkeyPatch.context() as m:
        m.setattr("mtj_hil.experiments.single.train_network", no_training)
        assert main(_train(tmp_path, "--method", method, "--copies", "2")) == 2
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("Error:"))
    assert "--copies" in line and "--method lea" in line and method in line
    assert "Traceback" not in err and not (tmp_path / "n.h5").exists()


def test_loop_epochs_with_a_method_other_than_chip_in_the_loop_is_a_usage_error(tmp_path, capsys):
    assert main(_train(tmp_path, "--method", "lea", "--loop-epochs", "3")) == 2
    err = capsys.readouterr().err
    assert "--loop-epochs works with --method chip-in-the-loop only" in err


def test_the_default_copies_and_each_method_s_own_option_are_accepted(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr("mtj_hil.experiments.single.train_network", seen.append)
    monkeypatch.setattr("mtj_hil.experiments.single.summary_json", lambda result: "{}")
    assert main(_train(tmp_path, "--method", "unaware")) == 0
    assert main(_train(tmp_path, "--method", "lea", "--copies", "2")) == 0
    assert main(_train(tmp_path, "--method", "chip-in-the-loop", "--loop-epochs", "2")) == 0
    assert [s.copies for s in seen] == ["auto", "2", "auto"]
    assert [s.loop_epochs for s in seen] == [5, 5, 2]


STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"


@pytest.mark.parametrize(
    ("method", "setting", "message"),
    [
        ("unaware", {"copies": "3"}, "--copies works with --method lea only; unaware"),
        ("lea", {"loop_epochs": 9}, "--loop-epochs works with --method chip-in-the-loop only"),
        ("unaware", {"population_dies": 3}, "--population-dies works with --method "
         "statistics-aware only"),
        ("chip-in-the-loop", {"characterization": ["c.h5"]}, "--characterization works with "
         "--method defect-aware, defect-aware-compensated, statistics-aware or lea only"),
        ("defect-aware", {"station": STATION}, "--station works with --method "
         "chip-in-the-loop or lea; for defect-aware, characterize the die with --station"),
        ("unaware", {"station": STATION}, "for unaware, train without --station"),
        ("statistics-aware", {"population_dies": 3, "characterization": ["c.h5"]},
         "--population-dies is how many dies are characterised now"),
        ("defect-aware", {"compensation_budget": 0.1}, "--compensation-budget works with "
         "--method defect-aware-compensated only; defect-aware does not use it"),
        ("lea", {"compensation_epochs": 3}, "--compensation-epochs works with --method "
         "defect-aware-compensated only"),
        ("defect-aware-compensated", {"copies": "2"}, "--copies works with --method lea only"),
        ("defect-aware-compensated", {"station": STATION}, "for defect-aware-compensated, "
         "characterize the die with --station"),
    ],
)  # fmt: skip
def test_the_api_and_the_command_refuse_an_option_the_method_does_not_use_alike(
    tmp_path, capsys, monkeypatch, method, setting, message
):
    monkeypatch.setattr("mtj_hil.experiments.single.train_network", _no_training)
    with pytest.raises(ConfigError, match=re.escape(message)) as refused:
        TrainSpec(method, 0, tmp_path / "n.h5", **setting)
    args = _train(tmp_path, "--method", method)
    for name, value in setting.items():
        for v in value if isinstance(value, list) else [value]:
            args += [f"--{name.replace('_', '-')}", str(v)]
    assert main(args) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert f"Error: {refused.value}" in err and "Traceback" not in err


def _no_training(spec):
    raise AssertionError("trained despite the refusal")


@pytest.mark.parametrize("method", ["chip-in-the-loop", "lea"])
def test_the_methods_that_run_on_a_station_take_it(tmp_path, monkeypatch, method):
    seen = []
    monkeypatch.setattr("mtj_hil.experiments.single.train_network", seen.append)
    monkeypatch.setattr("mtj_hil.experiments.single.summary_json", lambda result: "{}")
    assert main(_train(tmp_path, "--method", method, "--station", str(STATION))) == 0
    assert [s.station for s in seen] == [STATION]


def test_the_compensation_options_reach_the_spec_and_are_checked_like_the_epochs(
    tmp_path, monkeypatch, capsys
):
    seen = []
    monkeypatch.setattr("mtj_hil.experiments.single.train_network", seen.append)
    monkeypatch.setattr("mtj_hil.experiments.single.summary_json", lambda result: "{}")
    method = ["--method", "defect-aware-compensated"]
    assert main(_train(tmp_path, *method)) == 0
    given = ["--compensation-budget", "0.05", "--compensation-epochs", "4"]
    assert main(_train(tmp_path, *method, *given)) == 0
    assert [(s.compensation_budget, s.compensation_epochs) for s in seen] == [(0.2, 10), (0.05, 4)]
    for bad in (["--compensation-budget", "1.5"], ["--compensation-epochs", "0"],
                ["--compensation-epochs", "1e26"]):  # fmt: skip
        assert main(_train(tmp_path, *method, *bad)) == 2
        assert bad[0] in capsys.readouterr().err
    for setting, message in (
        ({"compensation_budget": 1.5}, "--compensation-budget = 1.5 is out of range"),
        ({"compensation_budget": float("nan")}, r"budget must be a number in \[0, 1\], got nan"),
        ({"compensation_budget": "0.1"}, "--compensation-budget must be a number"),
        ({"compensation_epochs": 0}, r"allowed: an integer in \[1, 10000\]"),
        ({"compensation_epochs": 1e26}, "--compensation-epochs = 1e[+]26 is out of range"),
    ):
        with pytest.raises(ConfigError, match=message):
            TrainSpec("defect-aware-compensated", 0, tmp_path / "n.h5", **setting)
    assert seen and not (tmp_path / "n.h5").exists()
