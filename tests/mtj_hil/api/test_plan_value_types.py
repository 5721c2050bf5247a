"""A plan value of the wrong type (``cycles=2.0``, ``trials=True``, an array listed twice) is
refused before a run file is made, naming the setting; numpy numbers are taken as the Python
ones they equal and stored as such. Before, ``2.0`` passed the range check, a file was made,
and the run failed in a way that left the file unopenable ("changed by another program");
numpy scalars failed with "not JSON serializable"."""

from __future__ import annotations

import numpy as np
import pytest

import mtj_hil
from mtj_hil.cli.main import main
from mtj_hil.protocols.errors import SettingRefused

SWITCHING = {"arrays": [0], "amplitudes": [0.6], "widths": [1e-6], "disturb_reads": 0}


@pytest.mark.parametrize(
    "bad",
    [{"cycles": 2.0}, {"cycles": True}, {"reads": 1.5}, {"remeasure_rounds": "2"}],
    ids=repr,
)
def test_a_characterisation_setting_of_the_wrong_type_makes_no_file(tmp_path, bad):
    out = tmp_path / "c.h5"
    name = next(iter(bad))
    with pytest.raises(SettingRefused, match=name) as caught:
        mtj_hil.characterize(mtj_hil.simulated_die(3), out, arrays=[0], **bad)
    assert caught.value.setting == name
    assert not out.exists()


@pytest.mark.parametrize(
    "bad",
    [{"trials": 2.0}, {"arrays": [0, 0]}, {"disturb_reads": True}, {"amplitudes": ["0.6"]}],
    ids=repr,
)
def test_a_switching_setting_of_the_wrong_type_or_a_repeated_array_makes_no_file(tmp_path, bad):
    out = tmp_path / "s.h5"
    with pytest.raises(SettingRefused) as caught:
        mtj_hil.measure_switching(mtj_hil.simulated_die(3), out, **{**SWITCHING, **bad})
    assert caught.value.setting == next(iter(bad))
    assert not out.exists()


def test_numpy_values_are_taken_and_the_run_files_open(tmp_path, capsys):
    die = mtj_hil.simulated_die(3)
    c = tmp_path / "c.h5"
    mtj_hil.characterize(
        die, c, arrays=np.array([0]), reads=np.int64(1), read_voltage=np.float32(0.125)
    )
    s = tmp_path / "s.h5"
    numpy_plan = {
        "arrays": np.array([0]),
        "amplitudes": np.array([0.6, 0.7], np.float32),
        "trials": np.int64(4),
    }
    mtj_hil.measure_switching(mtj_hil.simulated_die(3), s, **{**SWITCHING, **numpy_plan})
    for path in (c, s):
        assert main(["show", str(path)]) == 0
    assert mtj_hil.load(c).attrs["die_id"] == mtj_hil.load(s).attrs["die_id"]


def test_zero_rounds_of_re_measurement_with_cycles_is_refused(tmp_path):
    # remeasure_rounds=0 with remeasure_cycles=3 was taken, and one round ran anyway
    with pytest.raises(SettingRefused, match="remeasure_rounds must be an integer >= 1"):
        mtj_hil.characterize(
            mtj_hil.simulated_die(3), tmp_path / "c.h5", arrays=[0], remeasure_rounds=0
        )
    assert not (tmp_path / "c.h5").exists()
