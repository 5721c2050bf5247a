"""Measurement-driven training of binary neural networks for MTJ crossbar dies.

Modules: :mod:`datasets` / :mod:`idx` (data), :mod:`bnn` (network and STE training),
:mod:`mapping` (placement on arrays), :mod:`die_model` (die and population models),
:mod:`methods` (unaware / defect-aware / statistics-aware training), :mod:`evaluation`
(ideal, emulated and through-the-chip evaluation),
:mod:`recalibration` (per-neuron digital correction from chip reads, no retraining),
:mod:`daffodil` (NIST reference solutions).

The names below load on first use (PEP 562, :mod:`mtj_hil.compat.lazy`): importing one
module of the package, such as :mod:`mtj_hil.training.errors`, does not load the networks and
what they import.
"""

from typing import TYPE_CHECKING

from mtj_hil.compat.lazy import lazy_exports

if TYPE_CHECKING:
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
    from mtj_hil.training.evaluation import (
        crossbar_layer_currents,
        evaluate_emulated,
        evaluate_software,
        forward_currents,
        predict_emulated,
    )
    from mtj_hil.training.idx import load_idx, read_idx, write_idx
    from mtj_hil.training.mapping import (
        Placement,
        effective_weights,
        place,
        place_defect_aware,
        target_bits,
    )
    from mtj_hil.training.methods import (
        realisation_pool,
        train_defect_aware,
        train_statistics_aware,
        train_unaware,
    )
    from mtj_hil.training.recalibration import (
        Recalibration,
        fit_recalibration,
        predict_recalibrated,
    )

__all__ = [
    "BNN",
    "Dataset",
    "DatasetError",
    "DieModel",
    "Placement",
    "PopulationModel",
    "Recalibration",
    "TrainConfig",
    "TrainingError",
    "crossbar_layer_currents",
    "effective_weights",
    "evaluate_emulated",
    "evaluate_software",
    "fit",
    "fit_recalibration",
    "forward_currents",
    "load_digits",
    "load_idx",
    "load_mnist_subset",
    "load_wine",
    "load_wine_nist",
    "place",
    "place_defect_aware",
    "predict_emulated",
    "predict_recalibrated",
    "read_idx",
    "realisation_pool",
    "target_bits",
    "train_defect_aware",
    "train_statistics_aware",
    "train_unaware",
    "write_idx",
]

__getattr__, __dir__ = lazy_exports(
    globals(),
    {
        "mtj_hil.training.bnn": ("BNN", "TrainConfig", "fit"),
        "mtj_hil.training.datasets": (
            "Dataset",
            "load_digits",
            "load_mnist_subset",
            "load_wine",
            "load_wine_nist",
        ),
        "mtj_hil.training.die_model": ("DieModel", "PopulationModel"),
        "mtj_hil.training.errors": ("DatasetError", "TrainingError"),
        "mtj_hil.training.evaluation": (
            "crossbar_layer_currents",
            "evaluate_emulated",
            "evaluate_software",
            "forward_currents",
            "predict_emulated",
        ),
        "mtj_hil.training.idx": ("load_idx", "read_idx", "write_idx"),
        "mtj_hil.training.mapping": (
            "Placement",
            "effective_weights",
            "place",
            "place_defect_aware",
            "target_bits",
        ),
        "mtj_hil.training.methods": (
            "realisation_pool",
            "train_defect_aware",
            "train_statistics_aware",
            "train_unaware",
        ),
        "mtj_hil.training.recalibration": (
            "Recalibration",
            "fit_recalibration",
            "predict_recalibrated",
        ),
    },
)
