"""The datasets a run's own record requires (``runs/store/required.py``) are required only
where the writer writes them: a die classified at its higher read voltage (a converter too
coarse at the lower one) has bias reads but no bias signature, and must still open."""

from __future__ import annotations

from pathlib import Path

import h5py

from mtj_hil.cli.main import main

PROFILE = Path(__file__).resolve().parents[3] / "mtj_hil" / "sim" / "profiles" / "1t1r-20k.toml"


def test_a_run_classified_without_its_bias_signature_still_opens(tmp_path, capsys):
    text = PROFILE.read_text()
    line = next(x for x in text.splitlines() if x.startswith("adc_bits = 0"))
    coarse = tmp_path / "coarse.toml"
    coarse.write_text(text.replace(line, "adc_bits = 7"))
    out = tmp_path / "c7.h5"
    args = ["characterize", "--profile", str(coarse), "--lot-seed", "9001", "--die", "11",
            "--arrays", "0", "--no-report", "--out", str(out)]  # fmt: skip
    assert main(args) == 0, capsys.readouterr().err
    with h5py.File(out, "r") as h5:
        assert "characterization/g_high_p" in h5  # the bias reads were taken...
        assert "defects/bias_p" not in h5  # ...and the die classified without them
    assert main(["show", str(out)]) == 0, capsys.readouterr().err
    assert main(["show", "--verify", str(out)]) == 0
