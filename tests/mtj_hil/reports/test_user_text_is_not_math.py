"""A die id, profile or group name holding "$" (or "^", "_", braces) is the user's text:
the reports draw it verbatim, never as matplotlib mathtext (an odd "$" used to end the
command with exit 1, and ``--resume`` failed the same way for ever)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from mtj_hil.cli.main import main  # noqa: E402
from mtj_hil.reports import characterization as char_report  # noqa: E402
from mtj_hil.reports import switching as switching_report  # noqa: E402
from mtj_hil.reports.layout import drawn_texts  # noqa: E402
from mtj_hil.runs.store.runfile import RunFile  # noqa: E402

LABEL = "W$3^$ [x]_{y}"


def _as_written(fig) -> list[Text]:
    """The figure's texts holding the user's labels: each drawn as plain text (the log
    axes' tick labels are mathtext of matplotlib's own, and stay so)."""
    found = [t for t in fig.findobj(Text) if any(w in t.get_text() for w in ("W$3^$", "d$1$"))]
    assert found and not any(t.get_parse_math() for t in found)
    return found


def _relabel(path, label: str) -> None:
    with RunFile.open(path, "a") as run:
        run.set_attrs("", die_id=label)


@pytest.mark.parametrize(
    ("kind", "module", "args", "title"),
    [
        ("characterize", char_report, ["--arrays", "0"], f"Characterisation of die {LABEL}  -"),
        (
            "switching",
            switching_report,
            ["--arrays", "0", "--trials", "2", "--widths", "1e-8", "--disturb-reads", "2"],
            f"switching of {LABEL}  (1 arrays",
        ),
    ],
)
def test_a_die_id_with_dollars_is_drawn_verbatim(tmp_path, monkeypatch, kind, module, args, title):
    out = tmp_path / "run.h5"
    assert main([kind, *args, "--out", str(out), "--no-report"]) == 0
    _relabel(out, LABEL)
    kept = []
    monkeypatch.setattr(module.plt, "close", kept.append)
    assert main([kind, "--resume", "--out", str(out)]) == 0  # draws the missing report
    assert out.with_suffix(".png").exists()
    (fig,) = kept
    texts = [t.text for t in drawn_texts(fig)]
    assert any(t.startswith(title) for t in texts), texts
    assert fig.get_suptitle().startswith(title)
    _as_written(fig)
    plt.close(fig)


def test_a_lot_map_draws_die_labels_and_group_name_verbatim(tmp_path, monkeypatch):
    from mtj_hil.campaigns import results

    kept = []
    monkeypatch.setattr(plt, "close", kept.append)
    results.lot_map([LABEL, "d$1$"], [0.5, None], tmp_path / "map.png", f"{LABEL}: yield")
    (fig,) = kept
    texts = [t.text for t in drawn_texts(fig)]
    assert f"{LABEL}: yield" in texts
    assert f"{LABEL}\n50.00" in texts and "d$1$" in texts  # "$1$" is no math either
    assert len(_as_written(fig)) == 3
    plt.close(fig)
