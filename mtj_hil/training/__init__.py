"""Measurement-driven training of binary neural networks for MTJ crossbar dies.

Modules: :mod:`datasets` / :mod:`idx` (data), :mod:`bnn` (network and STE training),
:mod:`mapping` (placement on arrays), :mod:`die_model` (die and population models),
:mod:`methods` (unaware / defect-aware / statistics-aware training, evaluation),
:mod:`daffodil` (NIST reference solutions).
"""

from mtj_hil.training.bnn import BNN, TrainConfig, fit
from mtj_hil.training.datasets import (
    Dataset,
    load_digits,
    load_mnist_subset,
    load_wine,
    load_wine_nist,
)
from mtj_hil.training.die_model import DieModel, PopulationModel
from mtj_hil.training.errors import DatasetError, TrainingError
from mtj_hil.training.idx import load_idx, read_idx, write_idx
from mtj_hil.training.mapping import (
    Placement,
    effective_weights,
    place,
    place_defect_aware,
    target_bits,
)
from mtj_hil.training.methods import (
    crossbar_layer_currents,
    evaluate_emulated,
    evaluate_software,
    forward_currents,
    predict_emulated,
    realisation_pool,
    train_defect_aware,
    train_statistics_aware,
    train_unaware,
)

__all__ = [
    "BNN",
    "Dataset",
    "DatasetError",
    "DieModel",
    "Placement",
    "PopulationModel",
    "TrainConfig",
    "TrainingError",
    "crossbar_layer_currents",
    "effective_weights",
    "evaluate_emulated",
    "evaluate_software",
    "fit",
    "forward_currents",
    "load_digits",
    "load_idx",
    "load_mnist_subset",
    "load_wine",
    "load_wine_nist",
    "place",
    "place_defect_aware",
    "predict_emulated",
    "read_idx",
    "realisation_pool",
    "target_bits",
    "train_defect_aware",
    "train_statistics_aware",
    "train_unaware",
    "write_idx",
]
