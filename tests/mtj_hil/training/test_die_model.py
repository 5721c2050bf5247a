"""Die and population models."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.protocols.defects.detect import DefectCode as D
from mtj_hil.training.die_model import DieModel, PopulationModel
from mtj_hil.training.errors import TrainingError


def test_defective_devices_ignore_their_bit(layout):
    die = DieModel.ideal(layout)
    die.defects[0, 0, :5] = [D.GOOD, D.SHORT, D.OPEN, D.STUCK_P, D.STUCK_AP]
    die.g_p[0, 0, 1], die.g_p[0, 0, 2] = 0.6e-3, 1e-9
    for bit in (0, 1):
        g = die.conductance(np.full(die.g_p.shape, bit, dtype=np.uint8))[0, 0, :5]
        expected_good = layout.nominal_g_p if bit else layout.nominal_g_ap
        np.testing.assert_array_equal(
            g, [expected_good, 0.6e-3, 1e-9, layout.nominal_g_p, layout.nominal_g_ap]
        )


def test_bad_die_arrays_raise(layout):
    shape = (layout.n_arrays, layout.rows, layout.cols)
    ok = np.full(shape, 1e-4)
    with pytest.raises(TrainingError, match="shape"):
        DieModel(layout, ok[:2], ok, np.zeros(shape, np.uint8))
    with pytest.raises(TrainingError, match="finite"):
        DieModel(layout, np.where(ok > 0, np.nan, ok), ok, np.zeros(shape, np.uint8))
    with pytest.raises(TrainingError, match="defect codes"):
        DieModel(layout, ok, ok, np.full(shape, 9, np.uint8))


def test_population_sampling_and_fit_round_trip(layout):
    pop = PopulationModel.nominal(
        layout,
        variation=0.05,
        defect_rates={D.SHORT: 0.002, D.OPEN: 0.001, D.STUCK_P: 0.003},
        rate_spread=0.3,
        short_median=2e-3,
        short_sigma=0.2,
    )
    rng = np.random.default_rng(0)
    g_p, g_ap, codes = pop.sample(rng, 16)
    assert g_p.shape == codes.shape == (16, layout.n_arrays, layout.rows, layout.cols)
    assert np.mean(codes == D.SHORT) == pytest.approx(0.002, rel=0.25)
    assert np.all(g_p[codes == D.SHORT] > 0.5e-3) and np.all(g_p[codes == D.OPEN] == 0.0)
    fitted = PopulationModel.fit([pop.sample_die(rng) for _ in range(12)])
    assert fitted.g_p_median == pytest.approx(layout.nominal_g_p, rel=0.01)
    assert fitted.g_ap_sigma == pytest.approx(0.05, rel=0.05)
    assert fitted.defect_rates[D.STUCK_P] == pytest.approx(0.003, rel=0.3)
    assert fitted.short_median == pytest.approx(2e-3, rel=0.1)
    with pytest.raises(TrainingError):
        PopulationModel.fit([])


def test_population_rate_factor_is_shared_by_all_defect_kinds(layout):
    """The simulator draws one rate factor per die; the sampler must correlate the kinds."""
    pop = PopulationModel.nominal(
        layout, defect_rates={D.SHORT: 0.004, D.STUCK_P: 0.004}, rate_spread=0.8
    )
    _, _, codes = pop.sample(np.random.default_rng(0), 48)
    shorts = (codes == D.SHORT).mean(axis=(1, 2, 3))
    stuck = (codes == D.STUCK_P).mean(axis=(1, 2, 3))
    assert np.corrcoef(shorts, stuck)[0, 1] > 0.8
