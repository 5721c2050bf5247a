"""``show`` of a switching run made with ``--floor-trials 0`` says the write-error floor was
not measured, as it says of read disturb with ``--disturb-reads 0`` (it printed ``nan``)."""

from __future__ import annotations

from mtj_hil.cli.main import main


def test_a_floor_not_measured_is_said_so(tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "120")
    out = tmp_path / "sw.h5"
    args = ["switching", "--arrays", "0", "--trials", "2", "--widths", "1e-8",
            "--floor-trials", "0", "--disturb-reads", "0", "--no-report", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    capsys.readouterr()
    assert main(["show", str(out)]) == 0
    shown = capsys.readouterr().out
    row = next(line for line in shown.splitlines() if "WER floor (90 %)" in line)
    assert row.count("not measured (--floor-trials 0)") == 2, row
    assert "nan" not in shown


def test_the_png_report_says_so_too(tmp_path, monkeypatch):
    """The report's summary printed ``floor nan (90 % nan..nan, 0 trials)``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from mtj_hil.reports import switching as switching_report
    from mtj_hil.reports.layout import drawn_texts

    kept = []
    monkeypatch.setattr(switching_report.plt, "close", kept.append)
    out = tmp_path / "sw.h5"
    args = ["switching", "--arrays", "0", "--trials", "2", "--widths", "1e-8",
            "--floor-trials", "0", "--disturb-reads", "0", "--out", str(out)]  # fmt: skip
    assert main(args) == 0
    (fig,) = kept
    text = "\n".join(t.text for t in drawn_texts(fig))
    plt.close(fig)
    assert text.count("floor not measured (--floor-trials 0)") == 2, text
    assert "nan" not in text
