"""A simulated die is picked by whole numbers: ``simulated_die(3.7)`` made die 3 and
labelled its data die 3.7 (and ``lot_seed=1.5`` lot 1 as lot 1.5), so two labels named one
die. Such values are refused, naming the argument."""

from __future__ import annotations

import numpy as np
import pytest

import mtj_hil
from mtj_hil.errors import ConfigError


@pytest.mark.parametrize(
    "kwargs",
    [{"die": 3.7}, {"die": True}, {"die": -1}, {"lot_seed": 1.5}, {"lot_seed": None}],
    ids=repr,
)
def test_a_die_index_or_lot_seed_that_is_no_whole_number_is_refused(kwargs):
    with pytest.raises(ConfigError, match=next(iter(kwargs))):
        mtj_hil.simulated_die(**kwargs)


def test_numpy_integers_pick_the_same_die_under_the_same_label():
    assert mtj_hil.simulated_die(np.int64(3)).die_id == mtj_hil.simulated_die(3).die_id
