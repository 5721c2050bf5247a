"""Campaign keys are checked by their declared fields everywhere: ``lot_seed = 0.0`` is 0
as ``cycles = 3.0`` is 3, and a bad one names the value and what is allowed; a typo in
``[cluster]`` names the closest key as the other sections do (exit 3)."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.cli.main import main

HEAD = '[campaign]\nname = "c"\nout_dir = "out"\n'
LOT = '[[task]]\nname = "lot"\nkind = "characterize"\ndies = "0"\ncycles = 1\n'


def _check(tmp_path: Path, capsys, text: str) -> tuple[int, str]:
    path = tmp_path / "c.toml"
    path.write_text(text)
    code = main(["campaign", "check", str(path)])
    return code, " ".join(capsys.readouterr().err.split())


def test_a_lot_seed_written_as_a_float_is_taken_as_cycles_are(tmp_path, capsys) -> None:
    code, err = _check(tmp_path, capsys, HEAD + LOT + "lot_seed = 0.0\n")
    assert code == 0, err


@pytest.mark.parametrize(
    ("seed", "said"),
    [
        ("0.5", "task[0].lot_seed must be an integer in [0, 9.22337e+18], got 0.5"),
        ("1e308", "task[0].lot_seed = 1e+308 is out of range; allowed: an integer in [0, "),
    ],
)
def test_a_bad_lot_seed_names_its_value_and_what_is_allowed(tmp_path, capsys, seed, said):
    code, err = _check(tmp_path, capsys, HEAD + LOT + f"lot_seed = {seed}\n")
    assert code == 3, err
    assert f"c.toml: {said}" in err, err


def test_a_typo_in_cluster_names_the_closest_key(tmp_path, capsys) -> None:
    code, err = _check(tmp_path, capsys, '[cluster]\ntls_ca_fil = "x.pem"\n' + HEAD + LOT)
    assert code == 3, err
    assert (
        "c.toml: cluster.tls_ca_fil is not a key of [cluster]; closest match: tls_ca_file;" in err
    )
