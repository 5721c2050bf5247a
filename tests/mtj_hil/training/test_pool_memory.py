"""A statistics-aware pool the machine cannot hold is refused before anything is drawn,
saying what it needs and what is free (a huge --pool-size used to run until memory ran out)."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.cli.main import main
from mtj_hil.experiments import borders
from mtj_hil.sim.profile import load_profile
from mtj_hil.training import capacity
from mtj_hil.training.capacity import available_memory, check_pool_memory
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.mapping import place
from mtj_hil.training.methods import realisation_pool


def test_free_memory_is_read_on_this_machine():
    free = available_memory()
    assert free is not None and 10**6 < free < 10**15


def test_a_pool_larger_than_free_memory_is_refused_naming_both(monkeypatch):
    monkeypatch.setattr(capacity, "available_memory", lambda: 2 * 10**9)
    need = check_pool_memory([100, 64, 10], 128)  # 7,040 weights: 28.8 MB
    assert need == 2 * 16 * 7040 * 128
    with pytest.raises(TrainingError, match=r"needs 288\.4 GB .* the 2\.0 GB free.*--pool-size"):
        check_pool_memory([100, 64, 10], 1_280_000)


def test_the_pool_is_refused_before_any_die_is_drawn(monkeypatch):
    monkeypatch.setattr(capacity, "available_memory", lambda: 10**6)
    layout = load_profile("1t1r-20k").layout
    rng = np.random.default_rng(0)
    state = rng.bit_generator.state
    never_read = object()  # the population: refused before it is sampled
    with pytest.raises(TrainingError, match="pool of 64 sampled dies"):
        realisation_pool(never_read, place([64, 16, 10], layout), rng, 64)  # type: ignore[arg-type]
    assert rng.bit_generator.state == state


def test_borders_refuses_a_huge_pool_before_characterising(tmp_path, capsys, monkeypatch):
    def characterise(*args: object, **kwargs: object) -> None:
        raise AssertionError("the lot was characterised before the pool was checked")

    monkeypatch.setattr(borders, "characterise_lot", characterise)
    args = ["experiment", "borders", "--dataset", "digits", "--dies", "36"]
    code = main([*args, "--pool-size", str(10**14), "--out-dir", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 3, err
    assert "--pool-size" in err and "GB" in err and "Traceback" not in err
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())
