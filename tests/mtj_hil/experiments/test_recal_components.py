"""A recalibration rank beside the recalibration turned off is refused, not ignored: by the
library's settings, the command (exit 2) and (tests/mtj_hil/campaigns) the campaign files,
all through ``check_recal_components``; a result file recorded with one still loads."""

from __future__ import annotations

from pathlib import Path

import pytest

from mtj_hil.campaigns.kinds.borders import _config, _stored_config
from mtj_hil.cli.main import main
from mtj_hil.errors import ConfigError
from mtj_hil.experiments.borders import BordersConfig


def test_settings_refuse_a_rank_the_recalibration_would_ignore() -> None:
    with pytest.raises(
        ConfigError,
        match="recal_components = 2 shapes the recalibration, which recalibrate = false turns off",
    ):
        BordersConfig(recalibrate=False, recal_components=2)
    assert BordersConfig(recalibrate=False).recal_components == 0
    assert BordersConfig(recal_components=2).recal_components == 2


def test_the_command_refuses_it_before_anything_runs(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    args = ["experiment", "borders", "--dies", "1", "--out-dir", str(out), "--no-recalibrate"]
    assert main([*args, "--recal-components", "3"]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert "Error: --recal-components 3 shapes the recalibration, which --no-recalibrate" in err
    assert not out.exists()


def test_a_result_recorded_with_an_ignored_rank_still_loads() -> None:
    old = {"dataset": "digits", "recalibrate": False, "recal_components": 4}
    assert _config(_stored_config(old)).recal_components == 0
    kept = {"dataset": "digits", "recalibrate": True, "recal_components": 4}
    assert _config(_stored_config(kept)).recal_components == 4
