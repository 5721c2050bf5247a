"""``mtj-hil train --method defect-aware-compensated``: the Borders experiment's
``defect_aware_compensated`` network for one die, saved with its digital correction, and
``mtj-hil evaluate`` applying it, emulated and on the die."""

from __future__ import annotations

import copy
import shutil
from pathlib import Path

import numpy as np
import pytest

from mtj_hil.cli.main import main
from mtj_hil.errors import StoreError
from mtj_hil.experiments import single
from mtj_hil.experiments.borders_config import BordersConfig
from mtj_hil.experiments.borders_die import compensated_accuracy_on_chip, compensated_wrong
from mtj_hil.experiments.borders_loop import DieContext, defect_aware_compensated
from mtj_hil.experiments.onchip import evaluate_on_chip
from mtj_hil.experiments.single import TrainSpec, train_network
from mtj_hil.experiments.single_eval import evaluate_network, load_saved
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.sim import SimulatedChip
from mtj_hil.training.bnn import TrainConfig
from mtj_hil.training.evaluation import evaluate_emulated

EPOCHS = 2


@pytest.fixture(scope="module")
def trained(tmp_path_factory, char_file):
    """The compensated network of die 2 (digits, 64-16-10) and what its compensation step
    was given: ``(run file, {data, net, placement, model, rng, budget})``."""
    seen = {}
    real = single.train_defect_aware_compensated

    def spy(data, hidden, model, placement, rng, config, net, budget, **kw):
        seen.update(
            data=data, net=net.copy(), placement=placement, model=model, budget=budget,
            rng=copy.deepcopy(rng),
        )  # fmt: skip
        return real(data, hidden, model, placement, rng, config, net, budget, **kw)

    out = tmp_path_factory.mktemp("comp") / "net.h5"
    spec = TrainSpec(
        "defect-aware-compensated",
        2,
        out,
        dataset="digits",
        hidden=(16,),
        epochs=6,
        characterization=[char_file],
        compensation_epochs=EPOCHS,
    )
    with pytest.MonkeyPatch.context() as m:
        m.setattr(single, "train_defect_aware_compensated", spy)
        summary = train_network(spec)
    assert summary["corrected_weights"] == round(0.2 * (64 * 16 + 16 * 10))
    return out, seen


def test_emulated_error_is_the_borders_column_s_for_the_same_network_and_die(trained, char_file):
    """Given the same defect-aware network, die and random state, the Borders experiment's
    ``defect_aware_compensated`` step makes the network and correction the file holds, and
    evaluates it to the emulated error ``mtj-hil evaluate`` reports."""
    out, seen = trained
    config = BordersConfig(dataset="digits", hidden=(16,), compensation_epochs=EPOCHS)
    ft = TrainConfig(epochs=config.finetune_epochs, lr=config.finetune_lr, lr_final=config.lr_final)
    ctx = DieContext(config, None, seen["data"], None, None, None, None, None, None, ft, {}, {},
                     None, [])  # fmt: skip
    net, comp = defect_aware_compensated(
        ctx, seen["net"], seen["placement"], seen["model"], seen["rng"], config.compensation_budget
    )
    saved, placement, _, saved_comp = load_saved(out, seen["model"].layout)
    for a, b in zip(net.latent + net.biases, saved.latent + saved.biases, strict=True):
        np.testing.assert_array_equal(a, b)
    for a, b in zip(comp.sparse + comp.scale + comp.shift,
                    saved_comp.sparse + saved_comp.scale + saved_comp.shift, strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)
    res = evaluate_network(out, 2, characterization=char_file)
    rng = np.random.default_rng(0)  # evaluate's noise: from the network's seed
    wrong = compensated_wrong(net, placement, seen["model"], seen["data"], comp, rng)
    assert res["emulated_error"] == wrong.mean()
    assert res["corrected_weights"] == comp.digital_cost() == 237
    # and the correction matters: without it the same reads give another error
    plain = evaluate_emulated(net, seen["data"].X_test, seen["data"].y_test, seen["model"],
                              placement, noise=True, rng=np.random.default_rng(0))  # fmt: skip
    assert res["emulated_error"] != pytest.approx(1.0 - plain)


def test_on_chip_evaluation_reads_the_die_and_applies_the_correction(trained, char_file):
    out, seen = trained
    res = evaluate_network(out, 2, on_chip=True, characterization=char_file)
    net, placement, _, comp = load_saved(out, seen["model"].layout)
    data = seen["data"]
    fresh = SimulatedChip.from_lot("1t1r-20k", 0, 2)  # the same die, the same read noise
    acc, _ = compensated_accuracy_on_chip(fresh, net, placement, comp, data)
    assert res["on_chip_error"] == pytest.approx(1.0 - acc)
    fresh = SimulatedChip.from_lot("1t1r-20k", 0, 2)
    uncorrected, _ = evaluate_on_chip(fresh, net, placement, data.X_test, data.y_test)
    assert res["on_chip_error"] != pytest.approx(1.0 - uncorrected)
    assert abs(res["on_chip_error"] - res["emulated_error"]) < 0.05
    assert res["bit_error_rate"] < 0.01


def test_the_file_says_which_weights_are_corrected_by_how_much_and_in_what_unit(trained):
    out, seen = trained
    with RunFile.open(out, "r") as run:
        group = run.h5["network/compensation"]
        assert (
            "scale * (crossbar signal + input @ correction) + shift" in group.attrs["description"]
        )
        assert (group.attrs["budget"], group.attrs["epochs"]) == (0.2, EPOCHS)
        units = {name: run.unit(f"network/compensation/{name}") for name in group}
        cells = run.read("network/compensation/corrected_1")
        assert all(group[name].attrs["description"] for name in group)
    assert units["correction_0"] == "G_P_nom - G_AP_nom" and units["corrected_0"] == "1"
    assert units["shift_1"] == "(G_P_nom - G_AP_nom) * V_read" and units["scale_1"] == "1"
    assert cells.shape[1] == 2 and cells[:, 0].max() < 16 and cells[:, 1].max() < 10


def test_show_says_what_the_file_corrects(trained, capsys):
    out, _ = trained
    assert main(["show", str(out)]) == 0
    text = " ".join(capsys.readouterr().out.split())
    assert "defect-aware-compensated" in text
    assert "digital correction: 237 weights (budget 0.2, fine-tuned 2 epochs for it)" in text


def test_a_file_without_a_compensation_evaluates_as_before(trained, char_file, tmp_path):
    """A network file as every method but this one writes it (and every file written before
    the method existed): no compensation group, evaluated without a correction."""
    out, seen = trained
    old = tmp_path / "old.h5"
    shutil.copy(out, old)
    with RunFile.open(old, "a") as run:
        run.delete("network/compensation")
        run.set_attrs("", method="defect-aware")
    net, placement, attrs, comp = load_saved(old, seen["model"].layout)
    assert comp is None and attrs["method"] == "defect-aware"
    res = evaluate_network(old, 2, characterization=char_file)
    data = seen["data"]
    acc = evaluate_emulated(net, data.X_test, data.y_test, seen["model"], placement, noise=True,
                            rng=np.random.default_rng(0))  # fmt: skip
    assert res["emulated_error"] == 1.0 - acc and "corrected_weights" not in res


OLD = Path(__file__).resolve().parents[2] / "fixtures" / "networks-0a87747" / "defect-aware.h5"


def test_a_network_file_written_before_the_correction_existed_evaluates_as_it_did(tmp_path):
    """``defect-aware.h5`` was written and evaluated by the code before this method (its
    README): today's code finds no correction in it and gets the old numbers. The on-chip
    error alone moved a little: the die is now characterised before the network is written
    (the write-verify judges each device by its own measured levels), so the die's read
    noise is drawn in another order; the bits written are the same (same bit error rate)."""
    path = tmp_path / "old.h5"
    shutil.copy(OLD, path)
    assert load_saved(path, SimulatedChip.from_lot("1t1r-20k", 0, 2).layout)[3] is None
    res = evaluate_network(path, 2, on_chip=True)
    assert res.pop("on_chip_error") == pytest.approx(0.2813370473537604, abs=0.01)
    assert res == {
        "method": "defect-aware",
        "die": 2,
        "n_test": 359,
        "software_error": 0.2701949860724234,
        "bit_error_rate": 0.002533783783783784,
        "emulated_error": 0.2785515320334262,
    }


@pytest.mark.parametrize(
    ("edit", "message"),
    [
        (lambda run: run.delete("network/compensation"), "records no compensation"),
        (lambda run: _moved(run, [64, 0]), "indexes outside layer 0"),
        (lambda run: _moved(run, run.read("network/compensation/corrected_0")[1]), "twice"),
        (
            lambda run: run.write("network/compensation/scale_1", np.full(10, np.nan), "1"),
            "not finite",
        ),
        (lambda run: run.delete("network/compensation/shift_1"), "no dataset"),
    ],
)
def test_a_damaged_compensation_is_refused_naming_the_file(trained, tmp_path, edit, message):
    out, _ = trained
    path = tmp_path / "damaged.h5"
    shutil.copy(out, path)
    with RunFile.open(path, "a") as run:
        edit(run)
    with pytest.raises(StoreError, match=message) as err:
        evaluate_network(path, 2)
    assert str(path) in str(err.value)


def _moved(run: RunFile, cell) -> None:
    """Layer 0's first corrected weight moved to ``cell`` (input, output)."""
    cells = run.read("network/compensation/corrected_0")
    cells[0] = cell
    run.write("network/compensation/corrected_0", cells, "1")
