"""Researcher-facing training inputs (TrainSpec, BordersConfig, mtj-hil train / experiment
borders): counts that would never end, wrong types and negative seeds are refused before any
work, naming the allowed range."""

from __future__ import annotations

import math
import re
import shutil
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.experiments.borders_config import MAX_DIES, BordersConfig
from mtj_hil.experiments.single import TrainSpec, train_network
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.training.bnn import MAX_EPOCHS
from mtj_hil.training.errors import TrainingError


def _spec(tmp_path: Path, **kw) -> TrainSpec:
    return TrainSpec(**{"method": "unaware", "die": 0, "out": tmp_path / "n.h5", **kw})


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        (
            "epochs",
            1e26,
            f"--epochs = 1e+26 is out of range; allowed: an integer in [1, {MAX_EPOCHS}]",
        ),
        ("epochs", 10**26, f"allowed: an integer in [1, {MAX_EPOCHS}]"),
        ("epochs", math.nan, "--epochs must be an integer"),
        ("epochs", "30", "--epochs must be an integer"),
        ("epochs", True, "--epochs must be an integer"),
        ("loop_epochs", 10**20, f"--loop-epochs = {10**20} is out of range"),
        ("population_dies", 10**20, f"allowed: an integer in [1, {MAX_DIES}]"),
        ("die", -1, "--die = -1 is out of range; allowed: an integer >= 0"),
        ("seed", -1, "--seed = -1 is out of range"),
        ("lot_seed", -5, "--lot-seed = -5 is out of range"),
        ("hidden", (0,), "--hidden holds 0"),
        ("hidden", 16, "--hidden must be a list of integers"),
        ("hidden", (), "--hidden must not be empty"),
        ("hidden", [], "--hidden must not be empty"),
        ("copies", 3, "--copies must be text"),
    ],
)
def test_a_train_spec_refuses_counts_out_of_range_before_any_work(
    tmp_path, monkeypatch, field, value, message
):
    monkeypatch.setattr("mtj_hil.experiments.single.load_dataset", _no_work)
    with pytest.raises(ConfigError, match=re.escape(message)):
        _spec(tmp_path, **{field: value})


def _no_work(*args, **kwargs):
    raise AssertionError("work started despite a refused setting")


def test_a_train_spec_takes_integers_of_any_integer_type(tmp_path):
    spec = _spec(tmp_path, epochs=np.int64(3), hidden=[np.int32(8)], seed=2.0)
    assert (spec.epochs, spec.hidden, spec.seed) == (3, (8,), 2)
    assert type(spec.epochs) is int and type(spec.hidden[0]) is int


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("epochs", 1e26, "epochs = 1e+26 is out of range"),
        ("finetune_epochs", MAX_EPOCHS + 1, f"allowed: an integer in [1, {MAX_EPOCHS}]"),
        ("stats_epochs", math.nan, "stats_epochs must be an integer"),
        ("dies", MAX_DIES + 1, f"dies = {MAX_DIES + 1} is out of range"),
        ("seed", -1, "seed = -1 is out of range"),
        ("lot_seed", -1, "lot_seed = -1 is out of range"),
        ("pool_size", 2.5, "pool_size must be an integer"),
        ("finetune_lr", math.nan, "finetune_lr must be a number > 0"),
        ("stats_lr", -0.1, "stats_lr = -0.1 is out of range"),
        ("hidden", 16, "hidden must be a list of integers >= 1"),
        ("hidden", ("16",), "hidden holds '16'"),
        ("hidden", (), "hidden must not be empty"),
        ("lea_copies", ("2", "2"), "lea_copies holds '2'"),
        ("lea_beta", 2.5, "lea_beta must be an integer >= 1, got 2.5"),
        ("workers", 10**9, "workers = 1000000000 is out of range; allowed: an integer in [1, 64]"),
    ],
)
def test_a_borders_config_refuses_counts_out_of_range(field, value, message):
    with pytest.raises(ConfigError, match=re.escape(message)):
        BordersConfig(dataset="digits", **{field: value})


@pytest.mark.parametrize(
    "args",
    [
        ["train", "--method", "unaware", "--die", "0", "--epochs", str(10**26)],
        ["train", "--method", "chip-in-the-loop", "--die", "0", "--loop-epochs", "10001"],
        ["train", "--method", "statistics-aware", "--die", "0", "--population-dies", "1001"],
        ["experiment", "borders", "--stats-epochs", "100000"],
        ["experiment", "borders", "--finetune-epochs", "100000"],
    ],
)
def test_the_commands_refuse_counts_past_their_cap_as_usage_errors(tmp_path, capsys, args):
    assert main([*args, "--out" if args[0] == "train" else "--out-dir", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err
    assert "is not in the range 1<=x<=" in err and "Traceback" not in err
    assert not list(tmp_path.iterdir())


def test_the_help_states_the_caps(capsys):
    for args in (["train", "--help"], ["experiment", "borders", "--help"]):
        assert main(args) == 0
        text = " ".join(capsys.readouterr().out.split())
        assert f"1<=x<={MAX_EPOCHS}" in text and f"1<=x<={MAX_DIES}" in text


def _with_dead_arrays(char_file: Path, folder: Path, first: int) -> Path:
    """A copy of ``char_file`` whose arrays ``first ..`` measured OPEN throughout."""
    path = folder / "dead.h5"
    shutil.copy(char_file, path)
    with RunFile.open(path, "a") as run:
        codes = run.read("defects/codes")
        codes[first:] = DefectCode.OPEN
        run.write("defects/codes", codes, "1", "defect code per device")
    return path


@pytest.mark.parametrize("method", ["defect-aware", "lea"])
def test_a_die_whose_usable_devices_sit_on_too_few_arrays_is_refused_before_training(
    tmp_path, char_file, monkeypatch, method
):
    dead = _with_dead_arrays(char_file, tmp_path, 6)  # 6 live arrays: ~3700 usable devices
    monkeypatch.setattr("mtj_hil.experiments.single.train_unaware", _no_work)
    spec = _spec(
        tmp_path, method=method, die=2, dataset="digits", hidden=(16,), characterization=[dead]
    )
    with pytest.raises(TrainingError, match=r"on only 6 of its 32 arrays \(arrays 6-31 hold none"):
        train_network(spec)
    assert not spec.out.exists()


def test_auto_lea_copies_of_a_lot_keep_to_the_arrays_with_usable_devices():
    from mtj_hil.experiments.lea import lot_copies
    from mtj_hil.sim import load_profile
    from mtj_hil.training.die_model import DieModel

    layout = load_profile("1t1r-20k").layout
    clean, sparse = DieModel.ideal(layout), DieModel.ideal(layout)
    sparse.defects[:, 4:] = DefectCode.OPEN  # four usable rows per array: every array live
    holed = DieModel.ideal(layout)
    holed.defects[::4] = DefectCode.OPEN  # 8 arrays dead: 15000 usable devices on 24
    with pytest.warns(UserWarning, match=r"\[2, 8\] instead of \[4, 8\]: die 1 of lot 0 holds "
                      r"usable \(GOOD\) devices on 24 of its 32 arrays, and copies \[4, 8\] "
                      "need 32 arrays"):  # fmt: skip
        assert lot_copies([64, 16, 10], layout, [clean, holed]) == [2, 8]
    assert lot_copies([64, 16, 10], layout, [clean, sparse], (1, 1)) == [1, 1]


def test_a_data_folder_beside_a_data_set_that_reads_none_is_refused(tmp_path, capsys):
    with pytest.raises(ConfigError, match="--data-dir works with the idx data set only; digits"):
        _spec(tmp_path, dataset="digits", data_dir=tmp_path)
    with pytest.raises(ConfigError, match="data_dir works with the idx data set only; mnist5k"):
        BordersConfig(data_dir=tmp_path)
    for args in (
        ["train", "--method", "unaware", "--die", "0", "--out", str(tmp_path / "n.h5")],
        ["experiment", "borders", "--out-dir", str(tmp_path / "b")],
    ):
        assert main([*args, "--dataset", "digits", "--data-dir", str(tmp_path)]) == 3
        err = capsys.readouterr().err
        assert "--data-dir works with the idx data set only" in err or "data_dir works" in err
    assert not (tmp_path / "n.h5").exists() and not (tmp_path / "b").exists()


@pytest.mark.parametrize("value", ["nan", "1,1,1", "0"])
def test_bad_lea_copies_of_the_borders_command_are_named_as_its_option(tmp_path, capsys, value):
    assert main(["experiment", "borders", "--lea-copies", value, "--out-dir", str(tmp_path)]) == 3
    err = capsys.readouterr().err
    assert f"--lea-copies {'must be' if value == 'nan' else repr(value)}" in err
    assert "--copies" not in err.replace("--lea-copies", "")


def test_recalibration_components_past_the_calibration_rows_are_refused_before_the_lot(
    monkeypatch,
):
    from mtj_hil.experiments.borders import run_borders

    monkeypatch.setattr("mtj_hil.experiments.borders.characterise_lot", _no_work)
    config = BordersConfig(dataset="digits", calibration_batch=10**12, recal_components=10**6)
    with pytest.raises(ConfigError, match=r"recal_components 1000000 .* batch of 1438 rows"):
        run_borders(config)
    # a rank with the recalibration off is refused where it is given (it would be ignored)
    with pytest.raises(ConfigError, match="recalibrate = false turns off"):
        BordersConfig(dataset="digits", recalibrate=False, recal_components=510)
