"""Where results cannot be written, or from what nothing can be learnt, is refused before the
work: a network file whose folder is a file or unwritable (trained for minutes, then "cannot
write"), an experiment's --out-dir likewise, an IDX set with no test images (exit 1 after
loading); and a Borders folder stopped while its figures were drawn is written again."""

from __future__ import annotations

import time

import numpy as np
import pytest

from mtj_hil.cli.main import main
from mtj_hil.errors import StoreError
from mtj_hil.experiments import outputs
from mtj_hil.experiments.single import TrainSpec, train_network
from mtj_hil.training.idx import write_idx


def test_a_network_file_that_cannot_be_written_is_refused_before_training(tmp_path):
    (tmp_path / "u.h5").write_text("a file where a folder should be")
    spec = TrainSpec(method="unaware", die=0, out=tmp_path / "u.h5" / "net.h5", epochs=1000)
    t0 = time.monotonic()
    with pytest.raises(StoreError, match="u.h5 is a file, not a folder; nothing trained"):
        train_network(spec)
    assert time.monotonic() - t0 < 10  # not after 1000 epochs


def test_an_experiment_folder_that_cannot_be_written_is_refused_first(tmp_path, capsys):
    (tmp_path / "taken").write_text("a file")
    args = ["experiment", "borders", "--dataset", "digits", "--dies", "1", "--seeds", "1"]
    assert main([*args, "--epochs", "1", "--out-dir", str(tmp_path / "taken" / "sub")]) == 4
    assert "taken is a file, not a folder" in " ".join(capsys.readouterr().err.split())


def test_an_idx_set_without_test_images_is_a_dataset_error(tmp_path, capsys):
    folder = tmp_path / "idx"
    folder.mkdir()
    write_idx(folder / "train-images-idx3-ubyte", np.zeros((60, 28, 28), np.uint8))
    write_idx(folder / "train-labels-idx1-ubyte", np.zeros(60, np.uint8))
    write_idx(folder / "t10k-images-idx3-ubyte", np.zeros((0, 28, 28), np.uint8))
    write_idx(folder / "t10k-labels-idx1-ubyte", np.zeros(0, np.uint8))
    args = ["train", "--method", "unaware", "--die", "0", "--out", str(tmp_path / "n.h5")]
    assert main([*args, "--dataset", "idx", "--data-dir", str(folder), "--epochs", "1"]) == 3
    assert "t10k-images-idx3-ubyte holds no images" in capsys.readouterr().err


def test_the_borders_run_file_is_written_after_its_figures(tmp_path, monkeypatch):
    # the run file marks a folder as holding results: written first, a stop while the
    # figures were drawn left a folder the next run refused, without its figures
    order = []
    monkeypatch.setattr(outputs, "_borders_runfile", lambda r, p: order.append("runfile"))
    monkeypatch.setattr(outputs, "borders_per_die", lambda r: (["die"], []))
    monkeypatch.setattr(outputs, "write_csv", lambda p, h, r: order.append("csv") or p)
    monkeypatch.setattr(outputs, "borders_markdown", lambda r: "md")
    monkeypatch.setattr(outputs, "borders_figure", lambda r, p: order.append("figure") or p)
    monkeypatch.setattr(outputs, "borders_histogram", lambda r, p: order.append("hist") or p)
    outputs.write_borders(object(), tmp_path)
    assert order[-1] == "runfile" and order.index("figure") < order.index("runfile")
