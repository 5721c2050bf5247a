"""Options that only one training method uses are refused with the others (exit 2, one line
naming the option and its method), instead of being ignored silently."""

from __future__ import annotations

import pytest

from mtj_hil.cli.main import main


def _train(tmp_path, *extra: str) -> list[str]:
    return ["train", "--die", "0", "--out", str(tmp_path / "n.h5"), *extra]


@pytest.mark.parametrize(
    "method", ["unaware", "defect-aware", "statistics-aware", "chip-in-the-loop"]
)
def test_copies_with_a_method_other_than_lea_is_a_usage_error(method, tmp_path, capsys):
    def no_training(spec):
        raise AssertionError("trained despite the usage error")

    with pytest.MonkeyPatch.context() as m:
        m.setattr("mtj_hil.experiments.single.train_network", no_training)
        assert main(_train(tmp_path, "--method", method, "--copies", "2")) == 2
    err = capsys.readouterr().err
    line = next(x for x in err.splitlines() if x.startswith("Error:"))
    assert "--copies" in line and "--method lea" in line and method in line
    assert "Traceback" not in err and not (tmp_path / "n.h5").exists()


def test_loop_epochs_with_a_method_other_than_chip_in_the_loop_is_a_usage_error(tmp_path, capsys):
    assert main(_train(tmp_path, "--method", "lea", "--loop-epochs", "3")) == 2
    err = capsys.readouterr().err
    assert "--loop-epochs works with --method chip-in-the-loop only" in err


def test_the_default_copies_and_each_method_s_own_option_are_accepted(tmp_path, monkeypatch):
    seen = []
    monkeypatch.setattr("mtj_hil.experiments.single.train_network", seen.append)
    monkeypatch.setattr("mtj_hil.experiments.single.summary_json", lambda result: "{}")
    assert main(_train(tmp_path, "--method", "unaware")) == 0
    assert main(_train(tmp_path, "--method", "lea", "--copies", "2")) == 0
    assert main(_train(tmp_path, "--method", "chip-in-the-loop", "--loop-epochs", "2")) == 0
    assert [s.copies for s in seen] == ["auto", "2", "auto"]
    assert [s.loop_epochs for s in seen] == [5, 5, 2]
