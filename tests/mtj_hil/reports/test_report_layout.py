"""The PNG reports stay readable on the shipped hard profiles: no text leaves the figure or
overlaps another (from matplotlib's drawn text extents), and the warnings are wrapped."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from mtj_hil.cli.main import main  # noqa: E402
from mtj_hil.reports import characterization as char_report  # noqa: E402
from mtj_hil.reports import switching as switching_report  # noqa: E402
from mtj_hil.reports.layout import text_problems  # noqa: E402
from mtj_hil.runs.store import load_characterization  # noqa: E402
from mtj_hil.runs.store.switching import load_switching  # noqa: E402


def _figure(module, draw, monkeypatch):
    kept = []
    monkeypatch.setattr(module.plt, "close", kept.append)
    draw()
    assert len(kept) == 1
    return kept[0]


def test_the_checker_sees_overlaps_and_text_off_the_page():
    fig, ax = plt.subplots(figsize=(3, 2))
    ax.set_title("a title")
    ax.text(0.5, 0.5, "one text", transform=ax.transAxes)
    ax.text(0.52, 0.5, "another text", transform=ax.transAxes)
    ax.text(1.5, 0.5, "off the page", transform=ax.transAxes)
    problems = text_problems(fig)
    plt.close(fig)
    assert any("overlap: 'one text' and 'another text'" in p for p in problems)
    assert any("leaves the figure: 'off the page'" in p for p in problems)


@pytest.mark.parametrize(
    ("profile", "die"),
    [("1t1r-early-process", "3"), ("passive-15x15", "3"), ("1t1r-wide-spread", "1")],
)
def test_characterisation_report_is_readable_on_hard_profiles(tmp_path, monkeypatch, profile, die):
    out = tmp_path / "run.h5"
    assert main(["characterize", "--profile", profile, "--die", die, "--out", str(out),
                 "--no-report"]) == 0  # fmt: skip
    char = load_characterization(out)
    fig = _figure(
        char_report,
        lambda: char_report.characterization_report(char, out.with_suffix(".png")),
        monkeypatch,
    )
    assert text_problems(fig) == []
    notes = char_report.wrap_notes(char_report.report_notes(char), char_report.NOTE_CHARS)
    assert all(len(line) <= char_report.NOTE_CHARS for line in notes)
    if profile == "1t1r-early-process":
        assert any(line.startswith("warning: P and AP conductances overlap") for line in notes)
    plt.close(fig)


def test_switching_report_is_readable_on_a_hard_profile(tmp_path, monkeypatch):
    out = tmp_path / "sw.h5"
    args = ["switching", "--profile", "1t1r-early-process", "--die", "3", "--arrays", "0",
            "--trials", "4", "--widths", "1e-8,1e-7", "--disturb-reads", "10",
            "--loop-devices", "0:1:1", "--no-report"]  # fmt: skip
    assert main([*args, "--out", str(out)]) == 0
    run = load_switching(out)
    fig = _figure(
        switching_report,
        lambda: switching_report.switching_report(run, out.with_suffix(".png")),
        monkeypatch,
    )
    assert text_problems(fig) == []
    plt.close(fig)


def test_characterisation_report_of_a_die_with_no_good_device(tmp_path, monkeypatch):
    """A die where nothing is called GOOD (a pulse too weak to switch it, say) still gets
    its report: the resistance panels show every device and say so."""
    import dataclasses

    import numpy as np

    from mtj_hil.protocols.defects.codes import DefectCode

    out = tmp_path / "run.h5"
    assert main(["characterize", "--arrays", "0", "--out", str(out), "--no-report"]) == 0
    char = load_characterization(out)
    char = dataclasses.replace(char, codes=np.full_like(char.codes, DefectCode.UNCERTAIN))
    fig = _figure(
        char_report,
        lambda: char_report.characterization_report(char, out.with_suffix(".png")),
        monkeypatch,
    )
    titles = [ax.get_title() for ax in fig.axes]
    assert any("all devices, none GOOD" in t for t in titles)
    assert text_problems(fig) == []
    plt.close(fig)
