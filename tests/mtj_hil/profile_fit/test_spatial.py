"""The [spatial] section from defect maps: scratches at any angle (and crossing ones) told
from line-defect remnants and clusters, clusters counted above chance with their size law,
an edge band found with its width and factor, and a lot with none of it fitted with none."""

from __future__ import annotations

import numpy as np
import pytest

from mtj_hil.profile_fit import spatial
from mtj_hil.profile_fit.spatial import DieMap, edge_band, fit_spatial, scratches
from mtj_hil.protocols.defects.codes import DefectCode

ARRAY = (25, 25)
SHAPE = (150, 150)  # a 6 x 6 grid of 25 x 25 arrays


def _line(defect: np.ndarray, x0: float, y0: float, angle: float, length: float) -> None:
    """A one-device-wide straight scratch, drawn as the simulator draws one."""
    y, x = np.mgrid[: defect.shape[0], : defect.shape[1]] + 0.5
    dx, dy = np.cos(angle), np.sin(angle)
    t = np.clip((x - x0) * dx + (y - y0) * dy, -length / 2, length / 2)
    defect |= np.hypot(x - (x0 + t * dx), y - (y0 + t * dy)) <= 0.5


def _map(defect: np.ndarray, code: int = DefectCode.SHORT) -> DieMap:
    valid = np.ones(defect.shape, bool)
    codes = np.where(defect, code, DefectCode.GOOD).astype(np.uint8)
    where = np.nonzero(valid)
    return DieMap(defect, valid, codes, where, 1.0, ARRAY)


@pytest.mark.parametrize("angle", [0.13, 0.46, np.pi / 4, 1.2, 2.0, 2.9])
def test_a_scratch_at_any_angle_is_one_scratch_among_random_defects(angle):
    rng = np.random.default_rng(1)
    defect = rng.random(SHAPE) < 0.01
    _line(defect, 70.3, 80.1, angle, 60.0)
    mask, count, lengths = scratches(defect, ARRAY)
    assert count == 1
    assert lengths[0] == pytest.approx(60.0, rel=0.15)
    # a line crosses one device per pitch along its nearer axis
    assert mask.sum() >= 0.9 * 60.0 * max(abs(np.cos(angle)), abs(np.sin(angle)))


def test_crossing_scratches_count_two_and_a_line_defect_remnant_none():
    defect = np.zeros(SHAPE, bool)
    _line(defect, 75.0, 75.0, 0.5, 70.0)
    _line(defect, 75.0, 75.0, 2.2, 70.0)
    assert scratches(defect, ARRAY)[1] == 2
    remnant = np.zeros(SHAPE, bool)
    remnant[25:50, 60] = True  # most of one output line of one array
    remnant[31, 60] = remnant[40, 60] = False  # left UNCERTAIN by the classifier
    assert scratches(remnant, ARRAY)[1] == 0


def test_a_compact_cluster_is_not_a_scratch():
    defect = np.zeros(SHAPE, bool)
    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]]
    defect |= (x - 40) ** 2 + (y - 40) ** 2 <= 9  # a 29-device disc
    assert scratches(defect, ARRAY)[1] == 0


def _clustered_lot(rng, dies: int, rate: float, median: float, sigma: float, edge=None):
    maps, drawn = [], 0
    y, x = np.mgrid[: SHAPE[0], : SHAPE[1]] + 0.5
    for _ in range(dies):
        p = np.full(SHAPE, 0.008)
        if edge is not None:
            dist = np.minimum(np.minimum(x, SHAPE[1] - x), np.minimum(y, SHAPE[0] - y))
            p[dist < edge[0]] *= edge[1]
        defect = rng.random(SHAPE) < p
        for _ in range(rng.poisson(rate)):
            size = max(1, round(median * np.exp(sigma * rng.standard_normal())))
            cy, cx = rng.random(2) * SHAPE
            d2 = (x - cx) ** 2 + (y - cy) ** 2 + 1e-6 * rng.random(SHAPE)
            defect.reshape(-1)[np.argpartition(d2.ravel(), size - 1)[:size]] = True
            drawn += 1
        maps.append(_map(defect, DefectCode.OPEN))
    return maps, drawn


def test_clusters_are_counted_above_chance_with_their_size_law():
    rng = np.random.default_rng(7)
    maps, drawn = _clustered_lot(rng, dies=24, rate=5.0, median=8.0, sigma=0.7)
    values = fit_spatial(maps).values
    rate, rate_sd, _ = values["cluster_rate"]
    assert abs(rate - drawn / 24) < 3 * rate_sd
    median, median_sd, _ = values["cluster_size_median"]
    assert abs(median - 8.0) < 3 * median_sd and median_sd < 3.0
    assert values["scratch_rate"][0] == 0.0
    assert "edge_factor" not in values


def test_random_defects_alone_give_no_clusters_and_no_edge():
    rng = np.random.default_rng(3)
    maps, _ = _clustered_lot(rng, dies=6, rate=0.0, median=8.0, sigma=0.7)
    values = fit_spatial(maps).values
    assert "cluster_rate" not in values  # nothing above chance
    assert values["scratch_rate"][0] == 0.0
    assert "edge_factor" not in values


def test_an_edge_band_is_found_with_its_width_and_factor():
    rng = np.random.default_rng(5)
    maps, _ = _clustered_lot(rng, dies=8, rate=0.0, median=8.0, sigma=0.7, edge=(3, 5.0))
    width, factor, sd, lr = edge_band(maps, [m.valid for m in maps])
    assert width == 3 and lr > spatial.EDGE_LR
    assert abs(factor - 5.0) < 3 * sd
    fit = fit_spatial(maps)
    assert fit.values["edge_width"][0] == 3.0
    band = fit.exclude[0]
    assert band[0, :].all() and band[2, 75] and not band[3, 75]  # left out of point rates


def test_a_line_of_stuck_devices_is_not_a_scratch_a_profile_cannot_state():
    """A profile's scratch leaves SHORT or OPEN devices; on a die with many stuck devices
    chance lines them up, and the fit must not return a scratch of a stuck class (the
    profile would not load)."""
    defect = np.zeros(SHAPE, bool)
    _line(defect, 75.0, 75.0, 0.5, 70.0)
    for code in (DefectCode.STUCK_P, DefectCode.STUCK_AP):
        fit = fit_spatial([_map(defect, code)])
        assert fit.values["scratch_rate"][0] == 0.0 and "scratch_class" not in fit.values
    fit = fit_spatial([_map(defect, DefectCode.OPEN)])
    assert fit.values["scratch_rate"][0] > 0
    assert DefectCode(int(fit.values["scratch_class"][0])) == DefectCode.OPEN
