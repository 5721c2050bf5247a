"""A station whose ``[safety]`` is tighter than its die profile: the plans of its campaign
groups are checked at load against the envelope the station's chip will have, so a read
voltage or a pulse it would refuse is refused before any task starts, and a default grid
is the one ``mtj-hil switching --station`` would use."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.campaigns import load_campaign
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.station.envelope import die_envelope, planned_layout
from mtj_hil.station.files import load_station


def _campaign(folder: Path, group: str) -> Path:
    path = folder / "c.toml"
    path.write_text(
        '[campaign]\nname = "c"\nout_dir = "out"\n\n[[task]]\nname = "g"\n'
        f'station = "tight.toml"\ndies = "0"\n{group}'
    )
    return path


def test_the_planned_envelope_is_the_tighter_of_station_and_profile(tight_station):
    station = load_station(tight_station(read=0.05, pulse=0.5))
    env = die_envelope(station)
    lim = station.profile.limits
    assert env.max_read_voltage == 0.05 and env.max_pulse_amplitude == 0.5
    assert env.min_pulse_width == max(station.envelope.min_pulse_width, lim.min_pulse_width)
    assert planned_layout(station).limits.max_read_voltage == 0.05
    assert planned_layout(station).n_arrays == station.profile.layout.n_arrays


def test_a_read_voltage_the_station_refuses_is_refused_at_load(tmp_path, tight_station):
    tight_station(pulse=1.2)
    path = _campaign(tmp_path, 'kind = "characterize"\narrays = "0"\n')
    with pytest.raises(ConfigError) as err:
        load_campaign(path)
    text = str(err.value)
    assert "task[0].read_voltage = 0.1 (the default) is refused" in text
    assert "station virtual-lab" in text and "(0..0.05 V)" in text


def test_a_nominal_pulse_outside_the_station_envelope_is_refused_at_load(tmp_path, tight_station):
    tight_station()
    for kind in ('kind = "characterize"\nread_voltage = 0.05\n', 'kind = "switching"\n'):
        path = _campaign(tmp_path, kind + 'arrays = "0"\n')
        with pytest.raises(ConfigError) as err:
            load_campaign(path)
        assert "task[0].station" in str(err.value)
        assert "nominal write pulse" in str(err.value) and "(0.1..0.5 V)" in str(err.value)


def test_the_default_switching_grid_follows_the_station_envelope(tmp_path, tight_station):
    # a set pulse inside the envelope, so only the grid is in question
    tight_station(pulse=1.2 * 0.9)
    group = 'kind = "switching"\narrays = "0"\nread_voltage = 0.05\n'
    campaign = load_campaign(_campaign(tmp_path, group))
    (task,) = campaign.tasks
    amplitudes = task.params["plan"]["amplitudes"]
    assert max(amplitudes) <= 1.2 * 0.9
    # what the switching command computes for the station's chip
    from mtj_hil.protocols.switching.procedure import default_amplitudes

    station = load_station(tmp_path / "tight.toml")
    assert list(amplitudes) == list(default_amplitudes(planned_layout(station)))


def test_characterize_refuses_the_nominal_pulse_before_making_a_run_file(
    tmp_path, capsys, tight_station
):
    station = tight_station()
    out = tmp_path / "run.h5"
    code = main(
        ["characterize", "--station", str(station), "--out", str(out), "--arrays", "0",
         "--read-voltage", "0.05"]
    )  # fmt: skip
    assert code == 6  # outside the safety envelope
    assert "nominal write pulse" in capsys.readouterr().err
    assert not out.exists()


def test_a_switching_read_voltage_the_station_refuses_is_refused_at_load(tmp_path, tight_station):
    """The switching plan's read voltage (default 0.1 V) is checked against the station's
    envelope when the campaign loads, as characterisation's is; ``read_voltage`` sets it."""
    tight_station(pulse=1.2 * 0.9)
    with pytest.raises(ConfigError) as err:
        load_campaign(_campaign(tmp_path, 'kind = "switching"\narrays = "0"\n'))
    text = " ".join(str(err.value).split())
    assert "task[0].read_voltage" in text
    assert "read voltage 0.1 V lies above the largest read voltage of the safety envelope, " in text
    (task,) = load_campaign(
        _campaign(tmp_path, 'kind = "switching"\narrays = "0"\nread_voltage = 0.04\n')
    ).tasks
    assert task.params["plan"]["read_voltage"] == 0.04


def test_switching_refuses_a_read_voltage_above_the_station_envelope_before_a_run_file(
    tmp_path, capsys, tight_station
):
    """A station whose envelope reads at up to 0.05 V: ``mtj-hil switching`` at its default
    read voltage (0.1 V) is refused before any file is made or anything is applied, so no
    failed run file is left whose resume would be refused the same way."""
    station = tight_station(pulse=1.2 * 0.9)
    out = tmp_path / "sw.h5"
    code = main(["switching", "--station", str(station), "--out", str(out), "--arrays", "0"])
    assert code == 6  # outside the safety envelope
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "read voltage 0.1 V lies above the largest read voltage of the safety envelope, 0.05 V"
        in err
    )
    assert not out.exists()
