"""The 36-die experiment, shrunk: 2 dies, digits, few epochs, measured on the dies too."""

from __future__ import annotations

import dataclasses
import json
import warnings

import h5py
import numpy as np
import pytest

from mtj_hil.errors import ConfigError
from mtj_hil.experiments.borders import BordersConfig, run_borders, run_borders_seeds
from mtj_hil.experiments.claims import CLAIMS_HEADER, claims_rows, pooled
from mtj_hil.experiments.outputs import seeds_markdown, write_borders

pytestmark = pytest.mark.slow

POOL = 8
"""Die realisations for statistics-aware training (128 by default) in the runs whose
assertions do not depend on how well that network is trained."""


@pytest.fixture(scope="module")
def result():
    config = BordersConfig(
        dataset="digits",
        dies=2,
        hidden=(24,),
        epochs=8,
        finetune_epochs=3,
        stats_epochs=3,
        compare_plain=True,
        on_chip=True,
        shared_rows=8,  # the defect-aware column reads shared rows on chip too
        pool_size=POOL,
    )
    stages = []
    res = run_borders(config, lambda stage, done, total: stages.append(stage))
    assert {"characterise", "dies", "train unaware"} <= set(stages)
    return res


def test_errors_per_die_and_on_chip(result):
    assert len(result.dies) == 2
    measured = (
        "unaware",
        "defect_aware",
        "statistics_aware",
        "lea",
        "statistics_recalibrated",
        "statistics_compensated",
        "lea_statistics_compensated",
    )
    for m in measured:
        e = result.errors(m)
        assert np.all((e >= 0) & (e < 0.5))
        chip = result.errors(m, on_chip=True)
        # measured on the die agrees with the emulation within a few test samples' worth
        assert np.all(np.abs(chip - e) < 0.04)
    assert all(d.truth_agreement > 0.999 for d in result.dies)
    assert result.methods() == [
        "software",
        "unaware",
        "unaware_placed",
        "defect_aware",
        "statistics_aware",
        "statistics_aware_plain",
        "lea",
        "lea_statistics",
        "lea_recalibrated",
        "statistics_recalibrated",
        "lea_statistics_recalibrated",
        "statistics_compensated",
        "lea_statistics_compensated",
    ]
    # 64-24-10 on 25 x 25 arrays: 6 + 1 arrays a copy; 8 output copies, then 4 of layer 0
    assert result.lea_copies == [4, 8]
    cost = (4 * 64 * 24 + 8 * 24 * 10) / (64 * 24 + 24 * 10)
    assert result.lea_device_cost == pytest.approx(cost)
    base = result.software_wrong / result.n_test
    for m in result.methods()[1:]:
        p = result.paired(m)
        # the paired difference is the error difference on the same samples, inside its CI
        np.testing.assert_allclose(p[:, 0], result.errors(m) - base, atol=1e-12)
        assert np.all((p[:, 1] <= p[:, 0]) & (p[:, 0] <= p[:, 2]))
    assert all(d.bit_error_rate["unaware"] < 0.01 for d in result.dies)
    assert all(d.bit_error_rate["lea"] < 0.01 for d in result.dies)


def test_outputs(result, tmp_path):
    paths = write_borders(result, tmp_path)
    for key in ("figure", "histogram"):
        assert paths[key].read_bytes()[:4] == b"\x89PNG"
    assert "statistics-aware" in paths["markdown"].read_text()
    assert paths["csv"].read_text().count("\n") == 3
    assert "defect_aware_minus_software_low" in paths["csv"].read_text().splitlines()[0]
    with h5py.File(paths["runfile"]) as h5:
        assert h5.attrs["kind"] == "experiment-borders"
        assert h5.attrs["status"] == "completed"
        assert h5["errors/unaware"].attrs["unit"] == "1"
        assert h5["errors/unaware"].shape == (2,)
        assert h5["paired/statistics_aware"].shape == (2, 3)
        assert "digits" in h5.attrs["preprocessing"]
        assert len(json.loads(h5.attrs["placements_defect_aware"])) == 2
        assert json.loads(h5.attrs["config"])["seed"] == 0


def test_several_seeds_share_one_characterisation():
    config = BordersConfig(
        dataset="digits",
        dies=1,
        hidden=(16,),
        epochs=3,
        finetune_epochs=1,
        stats_epochs=1,
        pool_size=POOL,
    )
    stages = []
    results = run_borders_seeds(config, [0, 1], lambda stage, done, total: stages.append(stage))
    assert [r.config.seed for r in results] == [0, 1]
    assert stages.count("characterise") == 2  # one characterisation: its start and end reports
    assert (results[0].nets["unaware"].latent[0] != results[1].nets["unaware"].latent[0]).any()
    text = seeds_markdown(results)
    assert "over 2 seeds" in text and "| mean | defect-aware |" in text
    # the per-die claims pool both seeds' samples and say the splits overlap (digits)
    assert "within 1 pt of software, per die" in text.lower()
    assert "2 seed(s)" in text and "optimistic" in text
    ivs, rates = pooled(results, "defect_aware")
    d = results[0].dies[0]
    n = results[0].n_test + results[1].n_test
    n10 = d.discordant["defect_aware"][0] + results[1].dies[0].discordant["defect_aware"][0]
    n01 = d.discordant["defect_aware"][1] + results[1].dies[0].discordant["defect_aware"][1]
    assert ivs[0].value == pytest.approx((n10 - n01) / n)
    assert rates[0] == pytest.approx((n10 + n01) / n)
    # the claims table counts dies by their pooled difference and by its interval
    row = next(r for r in claims_rows(results) if r[0] == "defect_aware")
    assert len(row) == len(CLAIMS_HEADER)
    assert row[3] == f"{int(ivs[0].value <= 0.01)}/1"
    assert row[4] == f"{int(ivs[0].high < 0.01)}/1"


def test_a_die_with_too_few_usable_devices_is_refused_before_training():
    from mtj_hil.sim import load_profile
    from mtj_hil.training.die_model import DieModel
    from mtj_hil.training.errors import TrainingError

    layout = load_profile("1t1r-20k").layout
    dead = DieModel.ideal(layout)
    dead.defects[:25] = 2  # OPEN: 4,375 usable devices left
    config = BordersConfig(dataset="digits", dies=2, hidden=(64,), epochs=1)
    stages = []
    with pytest.raises(TrainingError, match=r"die 1 of lot 0 has 4375 usable .* needs 9472"):
        run_borders(
            config,
            lambda stage, done, total: stages.append(stage),
            ([DieModel.ideal(layout), dead], [1.0, 1.0]),
        )
    assert "train unaware" not in stages


def _lot_with_a_small_die(dead_arrays: int):
    from mtj_hil.sim import load_profile
    from mtj_hil.training.die_model import DieModel

    layout = load_profile("1t1r-20k").layout
    small = DieModel.ideal(layout)
    small.defects[:dead_arrays] = 2  # OPEN
    return [DieModel.ideal(layout), small], [1.0, 1.0]


class _Trained(Exception):
    pass


def test_a_die_that_cannot_hold_the_requested_lea_copies_is_refused_before_training(
    monkeypatch,
):
    from mtj_hil.training.errors import TrainingError

    def no_training(*args, **kwargs):
        raise _Trained

    monkeypatch.setattr("mtj_hil.experiments.borders.train_unaware", no_training)
    # 64-24-10 once needs 3,552 devices; copies [4, 8] need 16,128; die 1 keeps 12,500
    config = BordersConfig(dataset="digits", dies=2, hidden=(24,), epochs=1, lea_copies=(4, 8))
    pattern = r"die 1 of lot 0 has 12500 usable .* copies \[4, 8\] needs 16128"
    with pytest.raises(TrainingError, match=pattern):
        run_borders(config, characterised=_lot_with_a_small_die(12))
    # copies it can hold pass the check (and training starts)
    with pytest.raises(_Trained):
        run_borders(
            dataclasses.replace(config, lea_copies=(2, 8)),
            characterised=_lot_with_a_small_die(12),
        )


def test_automatic_lea_copies_fit_the_smallest_die_and_say_so(monkeypatch):
    from mtj_hil.experiments.lea import lot_copies
    from mtj_hil.sim import load_profile

    layout = load_profile("1t1r-20k").layout
    sizes = [64, 24, 10]
    models, _ = _lot_with_a_small_die(12)
    with pytest.warns(UserWarning, match=r"\[2, 8\] instead of \[4, 8\]: die 1 of lot 0 has 12500"):
        assert lot_copies(sizes, layout, models) == [2, 8]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # ordinary dies: the copies their arrays allow
        assert lot_copies(sizes, layout, [models[0], models[0]]) == [4, 8]

    def no_training(*args, **kwargs):
        raise _Trained

    monkeypatch.setattr("mtj_hil.experiments.borders.train_unaware", no_training)
    config = BordersConfig(dataset="digits", dies=2, hidden=(24,), epochs=1)
    with pytest.warns(UserWarning, match="die 1 of lot 0"), pytest.raises(_Trained):
        run_borders(config, characterised=_lot_with_a_small_die(12))


def test_dies_spread_over_worker_processes_give_the_same_results():
    """Each die draws from its own seed: 2 worker processes (a die each) give 1 process's
    numbers."""
    config = BordersConfig(
        dataset="digits",
        dies=2,
        hidden=(16,),
        epochs=3,
        finetune_epochs=2,
        stats_epochs=1,
        pool_size=POOL,
    )
    one = run_borders(config)
    reports = []
    two = run_borders(
        dataclasses.replace(config, workers=2), lambda s, d, t: reports.append((s, d, t))
    )
    assert [d.wrong for d in two.dies] == [d.wrong for d in one.dies]
    assert [d.paired for d in two.dies] == [d.paired for d in one.dies]
    assert [d.index for d in two.dies] == [0, 1]
    assert ("dies", 2, 2) in reports  # progress reaches the end


def test_workers_below_one_are_refused():
    with pytest.raises(
        ConfigError, match=r"workers = 0 is out of range; allowed: an integer in \[1, 64\]"
    ):
        BordersConfig(dataset="digits", workers=0)


def test_the_statistics_aware_network_is_deployed_bias_corrected():
    """The default deploys the lot-wide network with each die's data-free bias correction;
    only the statistics-aware column changes, and switching it off gives the plain one."""
    dies = _spread_dies(0)
    config = BordersConfig(
        dataset="digits", dies=2, hidden=(16,), epochs=4, finetune_epochs=1, stats_epochs=2
    )
    assert config.bias_correction
    on = run_borders(config, characterised=(dies, [1.0, 1.0]))
    off = run_borders(
        dataclasses.replace(config, bias_correction=False), characterised=(dies, [1.0, 1.0])
    )
    for m in ("unaware", "defect_aware", "lea", "statistics_recalibrated"):
        assert [d.wrong[m] for d in on.dies] == [d.wrong[m] for d in off.dies]
    wrong = [[d.wrong["statistics_aware"] for d in r.dies] for r in (on, off)]
    assert wrong[0] != wrong[1]
    assert sum(wrong[0]) < sum(wrong[1])


def test_the_compensated_columns_come_with_a_budget_and_change_nothing_else():
    """The default evaluates the statistics-aware network (and its LEA) with the data-free
    compensation; without a budget those columns are absent and every other is the same."""
    dies = _spread_dies(10)
    config = BordersConfig(
        dataset="digits",
        dies=2,
        hidden=(16,),
        epochs=4,
        finetune_epochs=1,
        stats_epochs=2,
        pool_size=POOL,
    )
    assert config.compensation_budget == 0.2
    on = run_borders(config, characterised=(dies, [1.0, 1.0]))
    off = run_borders(
        dataclasses.replace(config, compensation_budget=None), characterised=(dies, [1.0, 1.0])
    )
    comp = ("statistics_compensated", "lea_statistics_compensated", "defect_aware_compensated")
    assert all(m in on.methods() for m in comp)
    assert not any(m in off.methods() for m in comp)
    # deployed with a network trained against what the compensation leaves
    assert "statistics_residual" in on.nets and "statistics_residual" not in off.nets
    for m in off.methods()[1:]:
        assert [d.wrong[m] for d in on.dies] == [d.wrong[m] for d in off.dies]
    with pytest.raises(ConfigError, match="compensation budget"):
        dataclasses.replace(config, compensation_budget=1.5)


def test_defect_aware_with_compensation_is_measured_on_the_die_as_emulated():
    """The defect-aware network fine-tuned for its compensation, programmed on the simulated
    die and read with its digital correction, errs as its emulation does; on a die of 20 %
    spread it errs less than the defect-aware network alone. Not with shared rows."""
    config = BordersConfig(
        dataset="digits",
        dies=1,
        hidden=(24,),
        epochs=8,
        finetune_epochs=3,
        stats_epochs=2,
        on_chip=True,
        recalibrate=False,
        pool_size=POOL,  # (the defect-aware networks start from the base network)
    )
    res = run_borders(config)
    e = res.errors("defect_aware_compensated")
    assert np.all(np.abs(res.errors("defect_aware_compensated", on_chip=True) - e) < 0.04)
    spread = run_borders(
        dataclasses.replace(config, dies=2, on_chip=False),
        characterised=(_spread_dies(20), [1.0] * 2),
    )
    assert spread.errors("defect_aware_compensated").mean() < spread.errors("defect_aware").mean()
    shared = run_borders(
        dataclasses.replace(config, on_chip=False, shared_rows=8),
        characterised=(_spread_dies(20)[:1], [1.0]),
    )
    assert "defect_aware_compensated" not in shared.methods()


def _spread_dies(first_seed: int) -> list:
    """Two die models of the 1t1r-20k layout with 20 % device spread and 0.4 % shorts."""
    from mtj_hil.protocols.defects.detect import DefectCode
    from mtj_hil.sim import load_profile
    from mtj_hil.training.die_model import DieModel

    layout = load_profile("1t1r-20k").layout
    dies = []
    for seed in range(first_seed, first_seed + 2):
        rng = np.random.default_rng(seed)
        shape = (layout.n_arrays, layout.rows, layout.cols)
        codes = np.where(rng.random(shape) < 0.004, DefectCode.SHORT, DefectCode.GOOD)
        g_p = layout.nominal_g_p * np.exp(0.2 * rng.standard_normal(shape))
        g_p = np.where(codes == DefectCode.SHORT, 6e-4, g_p)
        g_ap = layout.nominal_g_ap * np.exp(0.2 * rng.standard_normal(shape))
        dies.append(DieModel(layout, g_p, g_ap, codes.astype(np.uint8), 0.005))
    return dies


def test_a_network_too_large_for_the_die_is_refused_naming_the_profile():
    from mtj_hil.training.errors import TrainingError

    config = BordersConfig(dataset="digits", profile="passive-15x15", dies=1, hidden=(4,))
    with pytest.raises(TrainingError, match="64-4-10 does not fit a die of profile passive-15x15"):
        run_borders(config)


def test_the_csv_holds_the_run_file_s_numbers(result, tmp_path):
    """borders.csv rounded errors, bounds and paired differences to 4 decimals, the bit
    error rate to 3 digits and the read noise to 4: read with pandas they differed from
    the run file's values."""
    import pandas as pd

    paths = write_borders(result, tmp_path)
    table = pd.read_csv(paths["csv"])
    with h5py.File(paths["runfile"]) as h5:
        for m in result.methods()[1:]:
            np.testing.assert_array_equal(table[f"{m}_error"], h5[f"errors/{m}"][()])
            paired = h5[f"paired/{m}"][()]
            for i, tail in enumerate(("", "_low", "_high")):
                np.testing.assert_array_equal(
                    table[f"{m}_minus_software{tail}"], paired[:, i], err_msg=m
                )
            if f"errors_on_chip/{m}" in h5:
                np.testing.assert_array_equal(
                    table[f"{m}_on_chip_error"], h5[f"errors_on_chip/{m}"][()]
                )
        np.testing.assert_array_equal(table["read_noise"], h5["dies/read_noise"][()])
        np.testing.assert_array_equal(table["truth_agreement"], h5["dies/truth_agreement"][()])
    ber = [d.bit_error_rate["unaware"] for d in result.dies]
    np.testing.assert_array_equal(table["unaware_bit_error_rate"], ber)
