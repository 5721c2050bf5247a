"""Die models from characterisation files, from the simulator's truth, and the population."""

from __future__ import annotations

import shutil

import numpy as np
import pytest

import mtj_hil
from mtj_hil.errors import StoreError
from mtj_hil.experiments.diemodels import (
    fit_population,
    load_die_model,
    model_from_memory,
    model_from_simulation,
)
from mtj_hil.protocols.characterize.procedure import (
    CharacterizationPlan,
    MemorySink,
    characterize_die,
)
from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.runs.jobs.characterization import run_characterization
from mtj_hil.runs.store.runfile import RunFile
from mtj_hil.sim import SimulatedChip, load_profile
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.errors import TrainingError


def test_model_from_file_matches_truth(char_file):
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 2)
    model = load_die_model(char_file, chip.layout, die_id="sim:1t1r-20k:lot0:die2")
    truth = model_from_simulation(chip.die)
    assert np.mean(model.defects == truth.defects) > 0.999
    good = truth.defects == DefectCode.GOOD
    rel = np.abs(model.g_p[good] / truth.g_p[good] - 1)
    assert np.median(rel) < 0.01
    assert 0.003 < model.read_noise < 0.008  # profile: 0.5 %


def test_file_of_another_die_is_refused(char_file):
    layout = load_profile("1t1r-20k").layout
    with pytest.raises(StoreError, match="not 'sim:1t1r-20k:lot0:die5'"):
        load_die_model(char_file, layout, die_id="sim:1t1r-20k:lot0:die5")


def test_file_for_another_layout_is_refused(char_file):
    layout = load_profile("passive-15x15").layout
    with pytest.raises(StoreError, match="layout"):
        load_die_model(char_file, layout)


def test_run_of_another_kind_is_refused(tmp_path):
    path = tmp_path / "other.h5"
    RunFile.create(path, "network", die_id="x").close()
    with pytest.raises(StoreError, match="not a 'characterization' run"):
        load_die_model(path, load_profile("1t1r-20k").layout)


def test_partial_characterisation_is_refused(tmp_path):
    chip = SimulatedChip.from_lot("1t1r-20k", 0, 1)
    out = tmp_path / "part.h5"
    run_characterization(chip, out, die_id="d", plan=CharacterizationPlan(arrays=(0, 1)))
    with pytest.raises(StoreError, match="all 32 arrays"):
        load_die_model(out, chip.layout)


def test_wrong_shapes_are_a_training_error():
    layout = load_profile("1t1r-20k").layout
    with pytest.raises(TrainingError, match="shape"):
        DieModel(layout, np.ones((2, 2)), np.ones((2, 2)), np.zeros((2, 2), np.uint8))


def test_population_from_measured_dies():
    models = []
    for k in range(2):
        chip = SimulatedChip.from_lot("1t1r-20k", 0, k)
        sink = MemorySink()
        characterize_die(chip, sink)
        models.append(model_from_memory(chip.layout, sink))
    pop = fit_population(models)
    assert pop.g_p_median == pytest.approx(233e-6, rel=0.02)
    assert pop.g_p_sigma == pytest.approx(0.05, abs=0.01)
    assert 0.001 < pop.defect_rates[DefectCode.SHORT] < 0.006


def test_file_of_another_profile_with_the_same_geometry_is_refused(char_file):
    layout = load_profile("1t1r-early-process").layout  # 32 x 25 x 25 1T1R too
    with pytest.raises(StoreError, match=r"another profile \(1t1r-20k: nominal_g_ap 133"):
        load_die_model(char_file, layout)


def _nan_where_good(run: RunFile) -> None:
    codes = run.read("defects/codes")
    run.write(
        "defects/g_p", np.where(codes == DefectCode.GOOD, np.nan, run.read("defects/g_p")), "S"
    )


def _one_inf(run: RunFile) -> None:
    g = run.read("defects/g_ap")
    g[0, 0, 0] = np.inf
    run.write("defects/g_ap", g, "S")


DAMAGE = {
    "codes of half the arrays": (
        lambda run: run.write("defects/codes", run.read("defects/codes")[:16], "1"),
        r"defects/codes has shape \(16, 25, 25\) where .*m = 32 from defects/arrays",
    ),
    "codes as floats with NaN": (
        lambda run: run.write(
            "defects/codes", np.where(run.read("defects/codes") == 0, np.nan, 1.0), "1"
        ),
        "dataset defects/codes holds float64 .* where mtj-hil writes integer",
    ),
    "an unknown code": (
        lambda run: run.write("defects/codes", np.full((32, 25, 25), 77, np.uint8), "1"),
        r"dataset defects/codes holds values outside 0\.\.\.5, the values mtj-hil writes",
    ),
    "GOOD devices without a conductance": (_nan_where_good, "defects/g_p holds"),
    "an infinite conductance": (_one_inf, "defects/g_ap holds 1 infinite"),
    "no classification": (lambda run: run.delete("defects"), "marked completed but holds no"),
    "a layout that is not an object": (
        lambda run: run.set_attrs("", layout="[32, 25, 25]"),
        "its attributes are not as mtj-hil writes them: layout is not a JSON object",
    ),
}


@pytest.mark.parametrize("damage", list(DAMAGE))
def test_a_damaged_classification_is_refused_naming_the_file(char_file, tmp_path, damage):
    edit, message = DAMAGE[damage]
    path = tmp_path / "damaged.h5"
    shutil.copy(char_file, path)
    with RunFile.open(path, "a") as run:
        edit(run)
    layout = load_profile("1t1r-20k").layout
    with pytest.raises(StoreError, match=message) as err:
        load_die_model(path, layout)
    assert str(path) in str(err.value)


def _scaled(path, unit: str, factor: float):
    """Both conductance maps of ``path`` times ``factor``, their unit attribute ``unit``."""
    with RunFile.open(path, "a") as run:
        for name in ("g_p", "g_ap"):
            run.write(f"defects/{name}", run.read(f"defects/{name}") * factor, unit)


@pytest.mark.parametrize(
    ("unit", "factor", "message"),
    [
        ("S", 1e6, r"defects/g_p states 'S', but its GOOD devices' median is 2\d\d S, 1e\+06 "
         r"times the die's nominal 0.000233 S: the values are in another unit"),
        ("", 1e6, "defects/g_p states no unit \\(S assumed\\), but its GOOD devices' median"),
        ("Ohm", 1.0, "defects/g_p is in 'Ohm' where mtj-hil writes 'S'"),
        ("S", 1e-3, "defects/g_p states 'S', but .* 0.001 times the die's nominal"),
    ],
)  # fmt: skip
def test_conductances_in_another_unit_are_refused_naming_dataset_and_unit(
    char_file, tmp_path, unit, factor, message
):
    path = tmp_path / "units.h5"
    shutil.copy(char_file, path)
    _scaled(path, unit, factor)
    with pytest.raises(StoreError, match=message) as err:
        load_die_model(path, load_profile("1t1r-20k").layout)
    assert str(path) in str(err.value)


@pytest.mark.parametrize(("unit", "factor"), [("uS", 1e6), ("\u00b5S", 1e6), ("mS", 1e3)])
def test_conductances_stated_in_another_unit_are_refused_by_every_reader(
    char_file, tmp_path, unit, factor
):
    """Converted here once, while show and the exports read the same values as S (off by
    the factor): a run file holds conductances in S, and one that states another unit is
    refused when it opens, by every reader alike."""
    layout = load_profile("1t1r-20k").layout
    path = tmp_path / "units.h5"
    shutil.copy(char_file, path)
    _scaled(path, unit, factor)
    with pytest.raises(StoreError, match=f"defects/g_p is in '{unit}' where mtj-hil writes 'S'"):
        load_die_model(path, layout)
    with pytest.raises(StoreError, match="where mtj-hil writes 'S'"):
        mtj_hil.load(path)
