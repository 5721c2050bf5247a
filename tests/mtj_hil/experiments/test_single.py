"""train / evaluate one network, the commands, and bad input refused before any write."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from mtj_hil.cli.experiments import evaluate, experiment, train
from mtj_hil.errors import ConfigError, StoreError
from mtj_hil.experiments.data import load_dataset
from mtj_hil.experiments.onchip import evaluate_on_chip, program_bits
from mtj_hil.experiments.single import TrainSpec, die_id, train_network
from mtj_hil.experiments.single_eval import evaluate_network
from mtj_hil.protocols.characterize.plan import CharacterizationPlan
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store.characterization import load_characterization
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.sim import SimulatedChip
from mtj_hil.training.bnn import BNN
from mtj_hil.training.capacity import devices_needed
from mtj_hil.training.datasets import Dataset
from mtj_hil.training.errors import DatasetError, TrainingError
from mtj_hil.training.mapping import place


@pytest.fixture(scope="module")
def defect_net(tmp_path_factory):
    out = tmp_path_factory.mktemp("net") / "net.h5"
    spec = TrainSpec("defect-aware", 2, out, dataset="digits", hidden=(16,), epochs=6)
    summary = train_network(spec)
    assert summary["software_error"] < 0.3
    return out


def test_evaluate_emulated_and_on_chip(defect_net, char_file):
    res = evaluate_network(defect_net, 2, on_chip=True, characterization=char_file)
    assert res["method"] == "defect-aware"
    assert abs(res["on_chip_error"] - res["emulated_error"]) < 0.05
    assert res["bit_error_rate"] < 0.01


def test_defect_aware_net_refused_on_another_die(defect_net):
    with pytest.raises(ConfigError, match="defect-aware network for sim:1t1r-20k:lot0:die2"):
        evaluate_network(defect_net, 3)


def test_characterisation_of_another_die_refused(tmp_path, char_file):
    spec = TrainSpec(
        "defect-aware",
        4,
        tmp_path / "n.h5",
        dataset="digits",
        epochs=1,
        characterization=[char_file],
    )
    with pytest.raises(StoreError, match="characterises die 'sim:1t1r-20k:lot0:die2'"):
        train_network(spec)
    assert not (tmp_path / "n.h5").exists()


def test_network_run_file_of_wrong_kind(char_file):
    with pytest.raises(StoreError, match="not a 'network' run"):
        evaluate_network(char_file, 2)


def test_network_that_does_not_fit(tmp_path):
    spec = TrainSpec("unaware", 0, tmp_path / "n.h5", dataset="digits", hidden=(400,), epochs=1)
    with pytest.raises(
        TrainingError,
        match=r"64-400-10 does not fit a die of profile 1t1r-20k: .*"
        r"\(fewer or narrower --hidden layers, a smaller --image-size",
    ):
        train_network(spec)


def test_bad_samples_refused_before_any_write():
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 0)
    net = BNN.create([64, 8, 10], np.random.default_rng(0))
    pl = place(net.sizes, chip.layout)
    X = np.random.default_rng(0).random((4, 64))
    bad_x = X.copy()
    bad_x[0, 0] = np.nan
    for Xb, yb in ((bad_x, np.zeros(4, int)), (X, np.array([0, 1, 2, 10])), (X[:, :5], [0] * 4)):
        with pytest.raises(DatasetError):
            evaluate_on_chip(chip, net, pl, Xb, np.asarray(yb))
    with pytest.raises(TrainingError, match="bit map"):
        program_bits(chip, np.zeros((2, 2), np.uint8), np.zeros((2, 2), bool))
    with pytest.raises(TrainingError):
        evaluate_on_chip(chip, BNN.create([64, 9, 10], np.random.default_rng(0)), pl, X, [0] * 4)
    assert chip.program_calls == 0


def test_placement_for_another_die_refused():
    passive = SimulatedChip.from_lot("passive-15x15", 0, 0)
    net = BNN.create([13, 6, 3], np.random.default_rng(0))
    pl = place(net.sizes, SimulatedChip.from_lot("1t1r-20k", 0, 0).layout)
    with pytest.raises(TrainingError, match="placement is for 32 arrays"):
        evaluate_on_chip(passive, net, pl, np.zeros((1, 13)), np.zeros(1, int))
    assert passive.program_calls == 0


def test_bad_data_is_a_dataset_error(tmp_path):
    with pytest.raises(DatasetError, match="NaN"):
        Dataset(np.array([[np.nan]]), np.array([0]), np.array([[0.0]]), np.array([0]), "x")
    with pytest.raises(DatasetError, match="labels"):
        Dataset(
            np.zeros((2, 1)), np.array([0, 3]), np.zeros((1, 1)), np.array([0]), "x", n_classes=2
        )
    with pytest.raises(DatasetError):
        load_dataset("idx", 0, data_dir=tmp_path)
    with pytest.raises(ConfigError, match="--data-dir"):
        load_dataset("idx", 0)


def test_commands(tmp_path):
    runner = CliRunner()
    out = tmp_path / "u.h5"
    args = ["--method", "unaware", "--die", "1", "--out", str(out), "--dataset", "digits"]
    res = runner.invoke(train, [*args, "--hidden", "16", "--epochs", "3"], catch_exceptions=False)
    assert res.exit_code == 0 and json.loads(res.output)["method"] == "unaware"
    res = runner.invoke(evaluate, ["--net", str(out), "--die", "1"], catch_exceptions=False)
    assert "emulated_error" in json.loads(res.output)
    res = runner.invoke(experiment, ["--help"])
    assert "borders" in res.output and "goodwill" in res.output


@pytest.fixture(scope="module")
def lea_net(tmp_path_factory, char_file):
    out = tmp_path_factory.mktemp("lea") / "lea.h5"
    spec = TrainSpec(
        "lea", 2, out, dataset="digits", hidden=(16,), epochs=6, characterization=[char_file]
    )
    summary = train_network(spec)
    # 64-16-10: 6 arrays for layer 0, 1 for the output layer; auto copies fill 32 arrays
    assert summary["lea_copies"] == [4, 8]
    return out


@pytest.mark.slow
def test_lea_network_measured_on_its_die_and_refused_elsewhere(lea_net, char_file):
    res = evaluate_network(lea_net, 2, on_chip=True, characterization=char_file)
    assert res["method"] == "lea" and res["lea_copies"] == [4, 8]
    assert res["lea_device_cost"] == pytest.approx((4 * 64 * 16 + 8 * 160) / (64 * 16 + 160))
    assert abs(res["on_chip_error"] - res["emulated_error"]) < 0.05
    assert res["bit_error_rate"] < 0.01
    with pytest.raises(ConfigError, match="LEA network placed for sim:1t1r-20k:lot0:die2"):
        evaluate_network(lea_net, 3)


def test_lea_copies_that_do_not_fit_are_refused_before_training(tmp_path):
    spec = TrainSpec("lea", 2, tmp_path / "n.h5", dataset="mnist5k", copies="2")
    with pytest.raises(TrainingError, match=r"needs 54 arrays \(28160 devices"):
        train_network(spec)
    assert not (tmp_path / "n.h5").exists()
    with pytest.raises(ConfigError, match="one per layer"):
        train_network(TrainSpec("lea", 2, tmp_path / "n.h5", dataset="digits", copies="1,2,3"))


def test_population_of_another_profile_refused_before_training(tmp_path, char_file):
    spec = TrainSpec(
        "statistics-aware",
        2,
        tmp_path / "n.h5",
        dataset="digits",
        profile="1t1r-early-process",
        characterization=[char_file],
    )
    with pytest.raises(StoreError, match="another profile"):
        train_network(spec)
    assert not (tmp_path / "n.h5").exists()


SHIPPED = Path(__file__).resolve().parents[3] / "mtj_hil" / "sim" / "profiles" / "1t1r-20k.toml"


@pytest.fixture(scope="module")
def defective_die(tmp_path_factory):
    """A die of a profile with 60 % defective devices, characterised: (profile, run file)."""
    folder = tmp_path_factory.mktemp("defective")
    text = re.sub(r"^name = .*$", 'name = "defective"', SHIPPED.read_text(), flags=re.M)
    for key in ("short_rate", "open_rate", "stuck_p_rate"):
        text = re.sub(rf"^{key} = \S+", f"{key} = 0.2", text, flags=re.M)
    text = re.sub(r"^die_spread = \S+", "die_spread = 0.0", text, flags=re.M)
    profile = folder / "defective.toml"
    profile.write_text(text)
    out = folder / "char.h5"
    chip = SimulatedChip.from_lot(str(profile), 0, 0)
    plan = CharacterizationPlan(arrays=tuple(range(chip.layout.n_arrays)))
    run_characterization(chip, out, die_id=die_id(str(profile), 0, 0), plan=plan, seed=0)
    return str(profile), out


def test_auto_lea_copies_are_the_most_the_usable_devices_hold(tmp_path, defective_die):
    profile, char = defective_die
    good = int(np.count_nonzero(load_characterization(char).codes == DefectCode.GOOD))
    assert devices_needed([64, 16, 10], [1, 1]) < good < devices_needed([64, 16, 10], [4, 8])
    spec = TrainSpec(
        "lea",
        0,
        tmp_path / "n.h5",
        dataset="digits",
        hidden=(16,),
        epochs=1,
        profile=profile,
        characterization=[char],
    )
    copies = train_network(spec)["lea_copies"]
    assert devices_needed([64, 16, 10], copies) <= good and copies[-1] > 1
    mnist = TrainSpec(
        "lea",
        0,
        tmp_path / "m.h5",
        hidden=(64,),
        epochs=1,
        profile=profile,
        characterization=[char],
    )
    with pytest.raises(TrainingError, match=rf"has {good} usable .* needs 14080"):
        train_network(mnist)
    assert not (tmp_path / "m.h5").exists()


def _edited(source, folder, edit):
    path = folder / "edited.h5"
    shutil.copy(source, path)
    with RunFile.open(path, "a") as run:
        edit(run)
    return path


@pytest.mark.parametrize(
    "edit, message",
    [
        (lambda run: run.write("network/latent_0", np.full((64, 16), np.nan), "1"), "not finite"),
        (lambda run: run.set_attrs("", method="magic"), "unknown training method 'magic'"),
        (lambda run: run.set_attrs("", lot_seed="x"), "lot_seed 'x' is not an integer"),
        (lambda run: run.set_attrs("network", placement="[]"), "placement that cannot be read"),
    ],
)
def test_a_damaged_network_file_is_refused_naming_it(defect_net, tmp_path, edit, message):
    path = _edited(defect_net, tmp_path, edit)
    with pytest.raises(StoreError, match=message) as err:
        evaluate_network(path, 2)
    assert str(path) in str(err.value)


def test_a_damaged_lea_ensemble_is_refused_naming_the_file(lea_net, tmp_path):
    path = _edited(lea_net, tmp_path, lambda run: run.set_attrs("network", ensemble="{}"))
    with pytest.raises(StoreError, match="LEA ensemble that cannot be read"):
        evaluate_network(path, 2)


def test_a_network_of_a_profile_file_evaluates_from_another_folder(tmp_path, monkeypatch):
    (tmp_path / "train").mkdir()
    shutil.copy(SHIPPED, tmp_path / "train" / "mine.toml")
    monkeypatch.chdir(tmp_path / "train")
    spec = TrainSpec(
        "unaware",
        0,
        tmp_path / "n.h5",
        dataset="digits",
        hidden=(8,),
        epochs=1,
        profile="mine.toml",
    )
    train_network(spec)
    monkeypatch.chdir(tmp_path)
    assert evaluate_network(tmp_path / "n.h5", 0)["method"] == "unaware"


def test_the_summary_line_prints_error_rates_as_counted_not_as_float_residue():
    from mtj_hil.experiments.single import summary_json

    line = summary_json({"software_error": 1.0 - 0.902, "rates": [1.0 - 0.9, 0.25], "n": 1000})
    assert line == '{"software_error": 0.098, "rates": [0.1, 0.25], "n": 1000}'
    assert json.loads(summary_json({"x": 1 / 3}))["x"] == pytest.approx(1 / 3, rel=1e-12)
