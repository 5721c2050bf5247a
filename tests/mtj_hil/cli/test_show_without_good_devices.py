"""``show`` of a characterisation in which no device is GOOD (a die whose every device a
station's thresholds called SHORT) says so instead of printing numpy's "Mean of empty slice"
warnings and a table of NaN."""

from __future__ import annotations

from mtj_hil.cli.main import main
from mtj_hil.runs.store.image import encode, open_image, read_file, seal


def test_show_says_there_are_no_good_devices(tmp_path, capsys):
    run = tmp_path / "c.h5"
    args = ["characterize", "--profile", "passive-15x15", "--arrays", "0", "--cycles", "1"]
    assert main([*args, "--no-report", "--out", str(run)]) == 0
    h5 = open_image(read_file(run), writable=True)
    h5["defects/codes"][...] = 1  # every device SHORT
    seal(h5)
    run.write_bytes(encode(h5))
    h5.close()
    capsys.readouterr()
    assert main(["show", str(run)]) == 0
    captured = capsys.readouterr()
    text = " ".join((captured.out + captured.err).split())
    assert "none GOOD, so no R_P, R_AP or TMR" in text
    assert "RuntimeWarning" not in text and "nan" not in text
