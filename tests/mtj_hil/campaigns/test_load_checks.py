"""Every setting a task would refuse when it starts is refused when the campaign loads
(``campaign check`` / ``campaign run`` before any task), by the check the task makes, with
its message, naming the key and its value."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from mtj_hil.campaigns import load_campaign
from mtj_hil.campaigns.engine import run_campaign
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.experiments.borders import BordersConfig, checked_setup
from mtj_hil.sim.profile import PROFILE_DIR

HEAD = '[campaign]\nname = "c"\nout_dir = "out"\n'
LOT = '[[task]]\nname = "lot"\nkind = "characterize"\ndies = "{dies}"\ncycles = 1\n'
SWEEP = (
    '[[task]]\nname = "b"\nkind = "borders"\ncharacterization = "lot"\ndataset = "digits"\n'
    "epochs = 1\nfinetune_epochs = 1\nstats_epochs = 1\npool_size = 4\n"
)


def _write(folder: Path, lot: str = "", sweep: str | None = "", dies: str = "0") -> Path:
    """A campaign characterising ``dies`` of lot 0 (``lot``: more keys), then (unless
    ``sweep`` is None) a one-seed Borders group on digits with the keys ``sweep``."""
    path = folder / "c.toml"
    text = HEAD + LOT.format(dies=dies) + lot + ("" if sweep is None else SWEEP + sweep)
    path.write_text(text)
    return path


def _late(**settings: Any) -> str:
    """What the task would say when it starts (the check it makes before training)."""
    config = BordersConfig(dataset="digits", dies=1, **settings)
    with pytest.raises(Exception) as late:  # noqa: B017 - its type is the task's business
        checked_setup(config, memory=False)
    return str(late.value)


@pytest.mark.parametrize(
    ("lot", "sweep", "key", "settings"),
    [
        (  # a network larger than the die's arrays (the known case)
            'profile = "passive-15x15"\n',
            "hidden = 16\n",
            "task[1].hidden = 16 is refused",
            {"profile": "passive-15x15", "hidden": (16,)},
        ),
        ("", "hidden = 5000\n", "task[1].hidden = 5000 is refused", {"hidden": (5000,)}),
        (  # the default width on a die too small for it
            'profile = "passive-15x15"\n',
            "",
            "task[1].hidden = [64] (the default) is refused",
            {"profile": "passive-15x15"},
        ),
        (
            "",
            "hidden = 16\nlea_copies = [50, 1]\n",
            "task[1].lea_copies = [50, 1] is refused",
            {"hidden": (16,), "lea_copies": (50, 1)},
        ),
        (
            "",
            "lea_copies = [1, 1, 1]\n",
            "task[1].lea_copies = [1, 1, 1] is refused",
            {"lea_copies": (1, 1, 1)},
        ),
        ("", "shared_rows = 40\n", "task[1].shared_rows = 40 is refused", {"shared_rows": 40}),
        (
            "",
            "calibration_batch = 5000\nrecal_components = 4000\n",
            "task[1].recal_components = 4000 is refused",
            {"calibration_batch": 5000, "recal_components": 4000},
        ),
    ],
)
def test_a_borders_setting_the_task_would_refuse_is_refused_at_load(
    tmp_path: Path, lot: str, sweep: str, key: str, settings: dict[str, Any]
) -> None:
    with pytest.raises(ConfigError) as at_load:
        load_campaign(_write(tmp_path, lot, sweep))
    message = str(at_load.value)
    assert key in message and "(group 'b' on the dies of group 'lot'" in message
    assert _late(**settings) in message  # the same words as the late refusal


def test_idx_without_its_folder_is_refused_at_load(tmp_path: Path) -> None:
    path = _write(tmp_path, sweep="")
    path.write_text(path.read_text().replace('dataset = "digits"', 'dataset = "idx"'))
    with pytest.raises(ConfigError, match=r"task\[1\]\.data_dir is missing .*needs --data-dir"):
        load_campaign(path)


def test_image_size_beside_digits_is_refused_not_ignored(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "task[1].image_size = 10 is refused (group 'b' on the dies of group 'lot', profile "
            "1t1r-20k): image_size = 10 works with the mnist5k and idx data sets only; digits "
            "does not resize its images"
        ),
    ):
        load_campaign(_write(tmp_path, sweep="image_size = 10\n"))


def test_folds_beside_digits_is_refused_not_ignored(tmp_path: Path, capsys) -> None:
    message = (
        "task[1].folds = True is refused (group 'b' on the dies of group 'lot', profile "
        "1t1r-20k): folds = true works with the mnist5k data set only; digits has no "
        "cross-validation folds"
    )
    path = _write(tmp_path, sweep="folds = true\n")
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_campaign(path)
    assert main(["campaign", "check", str(path)]) == 3
    assert message in " ".join(capsys.readouterr().err.split())
    # asking for no folds, or leaving the key out (the default), asks for nothing ignored
    load_campaign(_write(tmp_path, sweep="folds = false\n"))
    load_campaign(_write(tmp_path, sweep=""))


def test_a_recalibration_rank_without_the_recalibration_is_refused(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "task[1].recal_components = 2 is refused (group 'b' on the dies of group 'lot', "
            "profile 1t1r-20k): recal_components = 2 shapes the recalibration, which "
            "recalibrate = false turns off"
        ),
    ):
        load_campaign(_write(tmp_path, sweep="recalibrate = false\nrecal_components = 2\n"))


def test_a_die_model_needs_every_array_characterised(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "task[1].characterization = 'lot' is refused (group 'b' on the dies of group 'lot', "
            "profile 1t1r-20k): group 'lot' covers arrays [0]; a die model needs all 32 arrays "
            "in order"
        ),
    ):
        load_campaign(_write(tmp_path, 'arrays = "0"\n', "hidden = 16\n"))


def test_too_many_dies_for_borders_names_the_characterize_group(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "task[1].characterization = 'lot' (1001 dies) is refused (group 'b' on the dies of "
            "group 'lot', profile 1t1r-20k): dies = 1001 is out of range; allowed: an integer "
            "in [1, 1000]"
        ),
    ):
        load_campaign(_write(tmp_path, sweep="hidden = 16\n", dies="0-1000"))


def test_a_read_voltage_outside_the_die_is_refused_at_load(tmp_path: Path) -> None:
    with pytest.raises(
        ConfigError,
        match=re.escape(
            "task[0].read_voltage = 0.9 is refused by a die of profile 1t1r-20k: read voltage "
            "0.9 V lies outside the die's read range (0..0.3 V)"
        ),
    ):
        load_campaign(_write(tmp_path, "read_voltage = 0.9\n", None))


@pytest.mark.parametrize(
    ("dies", "lot", "message"),
    [
        ("0-99999999999", "", "task[0].dies = '0-99999999999' selects more than 100,000 dies"),
        ("0", 'arrays = "0-40"\n', "task[0].arrays = '0-40' names array 40; allowed: 0..31"),
        ("0", "arrays = [3, 1, 3]\n", "task[0].arrays = [3, 1, 3] lists array 3 twice"),
        ("0", "arrays = []\n", "task[0].arrays = [] selects no arrays"),
    ],
)
def test_index_ranges_name_the_value(tmp_path: Path, dies: str, lot: str, message: str) -> None:
    with pytest.raises(ConfigError, match=re.escape(message)):
        load_campaign(_write(tmp_path, lot, None, dies))


def test_a_profile_file_beside_the_campaign_runs(tmp_path: Path) -> None:
    """A profile file is taken from the campaign file's folder and its tasks load it by path
    (they used to carry its name, which no worker knows)."""
    text = (PROFILE_DIR / "passive-15x15.toml").read_text()
    (tmp_path / "mine.toml").write_text(text.replace('"passive-15x15"', '"my-die"', 1))
    spec = load_campaign(_write(tmp_path, 'profile = "mine.toml"\n', None))
    assert spec.tasks[0].params["profile"] == str(tmp_path / "mine.toml")
    assert spec.tasks[0].params["die_id"] == "sim:my-die:lot0:die0"
    assert run_campaign(spec).completed == ["lot/die0"]


def test_campaign_check_lists_the_groups_and_runs_nothing(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    good = _write(tmp_path, sweep="hidden = 16\nseeds = [0, 1]\n")
    assert main(["campaign", "check", str(good)]) == 0
    out = " ".join(capsys.readouterr().out.split())
    assert "campaign c: 3 tasks" in out and "borders │ 2 │ lot" in out
    assert not (tmp_path / "out").exists()
    bad = _write(tmp_path, 'profile = "passive-15x15"\n', "hidden = 16\n")
    assert main(["campaign", "check", str(bad)]) == 3
    assert "task[1].hidden = 16 is refused" in " ".join(capsys.readouterr().err.split())


@pytest.mark.parametrize("out_dir", ["/proc/mtj-hil-results", "{tmp}/a-file/results"])
def test_check_says_a_results_folder_that_cannot_be_made(tmp_path: Path, capsys, out_dir) -> None:
    # check passed it; run then stopped at its first write (exit 4)
    (tmp_path / "a-file").write_text("not a folder")
    out = out_dir.format(tmp=tmp_path)
    path = tmp_path / "c.toml"
    path.write_text(
        f'[campaign]\nname = "c"\nout_dir = "{out}"\n\n[[task]]\nname = "lot"\n'
        'kind = "characterize"\ndies = "0"\nprofile = "passive-15x15"\n'
    )
    assert main(["campaign", "check", str(path)]) == 4
    assert f"out_dir {out} cannot be made or written" in " ".join(capsys.readouterr().err.split())
    assert [p.name for p in tmp_path.iterdir() if "probe" in p.name] == []


@pytest.mark.parametrize("key", ["campaign", "group"])
def test_a_name_too_long_to_name_its_outputs_is_refused_at_load(tmp_path: Path, key) -> None:
    # a 250-character group name passed 'campaign check' and ran, then 'campaign report'
    # and 'export' failed on the files named after it ('<group>-dies.csv': File name too
    # long); at most 100 characters leave room for every name made from it
    long = "g" * 101
    text = HEAD + LOT.format(dies="0")
    text = text.replace('"c"', f'"{long}"') if key == "campaign" else text.replace("lot", long)
    path = tmp_path / "c.toml"
    path.write_text(text)
    with pytest.raises(ConfigError, match=r"name must be a word .*\(at most 100\)"):
        load_campaign(path)
    path.write_text(text.replace(long, long[:100]))
    assert load_campaign(path).tasks


def test_a_shipped_profile_name_is_the_shipped_profile_beside_a_file_of_its_name(
    tmp_path: Path,
) -> None:
    # a file 'passive-15x15' beside the campaign was loaded in the shipped profile's place,
    # where --profile and a station file's [die] profile load the shipped one
    text = (PROFILE_DIR / "1t1r-20k.toml").read_text()
    (tmp_path / "passive-15x15").write_text(text)
    spec = load_campaign(_write(tmp_path, 'profile = "passive-15x15"\n', None))
    assert spec.tasks[0].params["profile"] == "passive-15x15"
