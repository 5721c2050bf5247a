"""evaluate --station: a die-bound network or a characterisation of another simulated die
than the one the station serves is refused before any instrument is opened."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.errors import ConfigError, StoreError
from mtj_hil.experiments.single import TrainSpec, train_network
from mtj_hil.experiments.single_eval import evaluate_network

STATION = Path(__file__).resolve().parents[3] / "stations" / "virtual-lab.toml"  # die 7


def _no_chip(*args, **kwargs):
    raise AssertionError("the station was opened")


def _train(tmp_path: Path, method: str, char_file: Path) -> Path:
    spec = TrainSpec(
        method=method,
        die=2,
        out=tmp_path / f"{method}.h5",
        dataset="digits",
        hidden=(8,),
        epochs=1,
        characterization=[char_file] if method != "unaware" else [],
    )
    train_network(spec)
    return spec.out


def test_another_simulated_dies_network_and_map_are_refused_on_the_station(
    tmp_path, char_file, monkeypatch
):
    assert "die = 7" in STATION.read_text()
    aware = _train(tmp_path, "defect-aware", char_file)  # for die 2
    plain = _train(tmp_path, "unaware", char_file)
    monkeypatch.setattr("mtj_hil.experiments.single_eval.open_chip", _no_chip)
    with pytest.raises(ConfigError, match=r"simulated die sim:1t1r-20k:lot0:die2, not the die "):
        evaluate_network(aware, 2, station=STATION)
    with pytest.raises(StoreError, match=r"die2.h5 is of the simulated die sim:1t1r-20k:lot0:die2"):
        evaluate_network(plain, 7, station=STATION, characterization=char_file)


def test_a_die_index_other_than_the_labs_is_refused_not_reported_as_measured(
    tmp_path, char_file, monkeypatch, capsys
):
    """The station's die is what is measured: a result for --die 0 measured on the lab's die
    7 would be reported as die 0."""
    from mtj_hil.cli.main import main

    plain = _train(tmp_path, "unaware", char_file)
    monkeypatch.setattr("mtj_hil.experiments.single_eval.open_chip", _no_chip)
    with pytest.raises(ConfigError, match=r"--die 0: the virtual lab of .* serves die 7"):
        evaluate_network(plain, 0, station=STATION)
    capsys.readouterr()
    assert main(["evaluate", "--net", str(plain), "--die", "0", "--station", str(STATION)]) == 3
    assert "give --die 7" in " ".join(capsys.readouterr().err.split())


@pytest.mark.slow
def test_a_network_trained_on_a_station_can_be_read_back(tmp_path, capsys):
    """The station file was stored as plain text where a run file keeps JSON: every command
    then refused the network as damaged, after the training on the die had been done."""
    from mtj_hil.cli.main import main
    from mtj_hil.runs.store import RunFile
    from mtj_hil.sim.profile import PROFILE_DIR

    # a die of 8 arrays: the station characterises it whole before training, over the wire
    text = (PROFILE_DIR / "1t1r-20k.toml").read_text()
    (tmp_path / "small.toml").write_text(text.replace("n_arrays = 32", "n_arrays = 8", 1))
    station = tmp_path / "lab.toml"
    station.write_text(
        STATION.read_text().replace('profile = "1t1r-20k"', 'profile = "small.toml"', 1)
    )
    spec = TrainSpec(
        method="lea",
        die=7,
        out=tmp_path / "lea.h5",
        dataset="digits",
        hidden=(4,),
        epochs=1,
        station=station,
    )
    train_network(spec)
    with RunFile.open(spec.out) as run:
        assert run.attrs["station"] == {"station_file": str(station)}
    assert main(["show", str(spec.out)]) == 0
    assert "lea" in capsys.readouterr().out


def test_training_on_a_station_for_another_die_is_refused_before_the_station_opens(
    tmp_path, monkeypatch
):
    """``train --station`` with a --die other than the one the virtual lab serves trained on
    the station's die 7 and labelled the network die 3 (evaluate refused the same)."""
    import mtj_hil.experiments.single as single

    monkeypatch.setattr(single, "open_chip", _no_chip)
    spec = TrainSpec(
        method="chip-in-the-loop",
        die=3,
        out=tmp_path / "net.h5",
        dataset="digits",
        hidden=(8,),
        epochs=1,
        station=STATION,
    )
    with pytest.raises(ConfigError, match="serves die 7") as err:
        train_network(spec)
    assert "leave out --station to train for simulated die 3" in str(err.value)
    assert not spec.out.exists()


def test_a_network_trained_on_a_virtual_lab_records_the_die_it_serves():
    from mtj_hil.experiments.station_dies import station_target

    assert station_target(STATION) == "sim:1t1r-20k:lot0:die7"
