"""Die models from characterisation files, from the simulator's truth, and the population."""

from __future__ import annotations

import numpy as np
import pytest

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
