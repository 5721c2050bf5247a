"""Names a person chose are printed as written: a profile called ``ok`` gives die ids such as
``sim:ok:lot0:die0``, which a terminal library would otherwise turn into an emoji (``:ok:``)."""

from __future__ import annotations

from pathlib import Path

from mtj_hil.cli.main import main
from mtj_hil.sim.profile import PROFILE_DIR

EMOJI_CODES = ("ok", "x", "warning")
"""Profile names that are also emoji codes (``:ok:``, ``:x:``, ``:warning:``)."""


def _profile(folder: Path, name: str) -> Path:
    text = (PROFILE_DIR / "1t1r-20k.toml").read_text()
    text = text.replace('name = "1t1r-20k"', f'name = "{name}"', 1)
    text = text.replace("n_arrays = 32", "n_arrays = 2", 1)
    path = folder / f"{name}.toml"
    path.write_text(text)
    return path


def test_die_ids_with_emoji_codes_print_as_written(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    for name in EMOJI_CODES:
        run = tmp_path / f"{name}.h5"
        args = ["characterize", "--profile", str(_profile(tmp_path, name)), "--arrays", "0"]
        assert main([*args, "--cycles", "1", "--out", str(run), "--no-report"]) == 0
        assert main(["show", str(run)]) == 0
        text = capsys.readouterr()
        printed = text.out + text.err
        assert f"sim:{name}:lot0:die0" in printed, printed
        assert not any(ord(ch) > 0x2FFF for ch in printed), printed  # no emoji drawn
