"""The per-die pieces of the Borders experiment (:mod:`mtj_hil.experiments.borders`): the
lot's characterisation, the emulated evaluations (plain, Layer Ensemble Averaging, and
per-neuron recalibration from reads of a calibration batch) and the on-chip measurements.

Errors are boolean "wrong" vectors over the test set; conductances in siemens.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from mtj_hil.experiments.diemodels import model_from_memory
from mtj_hil.experiments.onchip import (
    ProgramReport,
    check_placement,
    evaluate_lea_on_chip,
    evaluate_on_chip,
    program_bits,
)
from mtj_hil.experiments.parallel import parallel_map
from mtj_hil.protocols.characterize.procedure import MemorySink, characterize_die
from mtj_hil.protocols.chip import Chip
from mtj_hil.sim.chip import SimulatedChip
from mtj_hil.sim.profile import DeviceProfile
from mtj_hil.training.bnn import BNN, Realisation
from mtj_hil.training.compensation import (
    Compensation,
    NetworkStatistics,
    fit_compensation,
    predict_compensated,
)
from mtj_hil.training.datasets import Dataset
from mtj_hil.training.die_model import DieModel
from mtj_hil.training.ensemble import EnsemblePlacement, lea_layer_currents, lea_realisation
from mtj_hil.training.evaluation import (
    ArrayRead,
    LayerCurrents,
    crossbar_layer_currents,
    emulated_read,
    predict_emulated,
)
from mtj_hil.training.mapping import Placement, target_bits
from mtj_hil.training.methods import die_realisation
from mtj_hil.training.recalibration import (
    fit_recalibration,
    predict_recalibrated,
    signal_from_currents,
)

Report = Callable[[str, int, int], None]
LeaDeployment = tuple[BNN, EnsemblePlacement, list[np.ndarray]]
"""A network, its LEA copies on one die and the averaging weights per layer."""


def characterise_lot(
    profile: DeviceProfile, lot_seed: int, dies: int, report: Report, workers: int = 1
) -> tuple[list[DieModel], list[float]]:
    """Characterise dies ``0 .. dies - 1`` of the lot through the Chip interface (over
    ``workers`` local processes); the measured models and each die's agreement of measured
    defect classes with the truth."""
    args = [(profile, lot_seed, k) for k in range(dies)]
    done = parallel_map(_characterise_die, args, workers, report, "characterise")
    return [m for m, _ in done], [a for _, a in done]


def _characterise_die(profile: DeviceProfile, lot_seed: int, k: int) -> tuple[DieModel, float]:
    with SimulatedChip.from_lot(profile, lot_seed, k) as chip:
        sink = MemorySink()
        found = characterize_die(chip, sink)
        model = model_from_memory(chip.layout, sink)
        return model, float(np.mean(found.codes == chip.die.defect))


def emulated_wrong(
    net: BNN, placement: Placement, model: DieModel, data: Dataset, rng: np.random.Generator
) -> np.ndarray:
    """Test samples ``net`` gets wrong on the emulated die, read noise included."""
    pred = predict_emulated(net, data.X_test, model, placement, noise=True, rng=rng)
    return pred != data.y_test


def _currents(
    net: BNN, where: Placement | LeaDeployment, read_for: Callable[[np.ndarray], ArrayRead]
) -> LayerCurrents:
    """Layer currents of ``net`` programmed as ``where`` says (a placement, or LEA copies
    with their weights), every array read through ``read_for(bits)``."""
    if isinstance(where, Placement):
        bits, _ = target_bits(where, net.binary_weights())
        return crossbar_layer_currents(where, read_for(bits))
    _, ensemble, weights = where
    bits, _ = ensemble.target_bits(net.binary_weights())
    return lea_layer_currents(ensemble, read_for(bits), weights)


def recalibrated_wrong(
    net: BNN,
    where: Placement | LeaDeployment,
    model: DieModel,
    data: Dataset,
    X_cal: np.ndarray,
    rng: np.random.Generator,
    components: int = 0,
) -> np.ndarray:
    """Test samples ``net`` gets wrong on the emulated die after per-neuron recalibration:
    ``X_cal`` (training images) is read through the die first and the correction fitted to
    those reads (:mod:`mtj_hil.training.recalibration`, with ``components`` input
    components); every read carries read noise."""
    currents = _currents(net, where, lambda bits: emulated_read(model, bits, rng))
    signal = signal_from_currents(currents, model.layout)
    cal = fit_recalibration(net, X_cal, signal, components=components)
    return predict_recalibrated(net, data.X_test, signal, cal) != data.y_test


def _realisation(where: Placement | LeaDeployment, model: DieModel) -> list[Realisation]:
    """The die's measured ``(offset, slope)`` per layer where the network is (LEA: averaged
    over the copies with their weights)."""
    if isinstance(where, Placement):
        return die_realisation(model, where)
    _, ensemble, weights = where
    ones = np.ones(model.g_p.shape, dtype=np.uint8)
    return lea_realisation(ensemble, model.conductance(ones), model.conductance(0 * ones), weights)


def fitted_compensation(
    net: BNN,
    where: Placement | LeaDeployment,
    model: DieModel,
    stats: NetworkStatistics,
    budget: float,
) -> Compensation:
    """The data-free compensation of ``net`` programmed as ``where`` says, fitted to the
    die's measured conductances (``model``; :func:`fit_compensation`, ``budget`` of the
    weights corrected digitally); no image is read for it."""
    return fit_compensation(net, _realisation(where, model), stats, budget)


def compensated_wrong(
    net: BNN,
    where: Placement | LeaDeployment,
    model: DieModel,
    data: Dataset,
    compensation: Compensation,
    rng: np.random.Generator,
) -> np.ndarray:
    """Test samples ``net`` gets wrong on the emulated die (read noise included), programmed
    as ``where`` says, its signal corrected digitally by ``compensation``
    (:mod:`mtj_hil.training.compensation`)."""
    currents = _currents(net, where, lambda bits: emulated_read(model, bits, rng))
    signal = signal_from_currents(currents, model.layout)
    return predict_compensated(net, data.X_test, signal, compensation) != data.y_test


def recalibrated_accuracy_on_chip(
    chip: Chip,
    net: BNN,
    where: Placement | LeaDeployment,
    X_cal: np.ndarray,
    data: Dataset,
    components: int = 0,
    thresholds: np.ndarray | None = None,
) -> tuple[float, ProgramReport]:
    """Accuracy measured on ``chip`` with per-neuron recalibration: ``net`` is programmed
    (write-verify against ``thresholds``, see :func:`program_bits`) as ``where`` says,
    ``X_cal`` read through the die to fit the correction, then the test set read. No device
    is rewritten for the correction. Returns the accuracy and the programming report.

    Raises:
        TrainingError: network, placement and die disagree (before any write).
    """
    report = _program(chip, net, where, thresholds)
    currents = _currents(net, where, lambda bits: chip.read)
    signal = signal_from_currents(currents, chip.layout)
    cal = fit_recalibration(net, X_cal, signal, components=components)
    pred = predict_recalibrated(net, data.X_test, signal, cal)
    return float(np.mean(pred == data.y_test)), report


def _program(
    chip: Chip,
    net: BNN,
    where: Placement | LeaDeployment,
    thresholds: np.ndarray | None = None,
) -> ProgramReport:
    """Write ``net`` where ``where`` puts it (one placement, or every LEA copy), verified
    against ``thresholds`` (S, per device; None: the die's nominal one)."""
    flat = where if isinstance(where, Placement) else where[1].flat
    check_placement(chip, flat)
    bits, used = (
        target_bits(where, net.binary_weights())
        if isinstance(where, Placement)
        else where[1].target_bits(net.binary_weights())
    )
    return program_bits(chip, bits, used, flat.arrays_used(), thresholds=thresholds)


def compensated_accuracy_on_chip(
    chip: Chip,
    net: BNN,
    where: Placement | LeaDeployment,
    compensation: Compensation,
    data: Dataset,
    thresholds: np.ndarray | None = None,
) -> tuple[float, ProgramReport]:
    """Accuracy measured on ``chip`` with a digital compensation (fitted to the die's
    characterisation, :func:`fitted_compensation`, or to the die a network was fine-tuned
    on): ``net`` is programmed (write-verify) as ``where`` says, then the test set read
    through the die and corrected digitally. Returns the accuracy and the programming report.
    ``thresholds``: per-device verify thresholds (see :func:`program_bits`).

    Raises:
        TrainingError: network, placement and die disagree (before any write).
    """
    report = _program(chip, net, where, thresholds)
    currents = _currents(net, where, lambda bits: chip.read)
    signal = signal_from_currents(currents, chip.layout)
    pred = predict_compensated(net, data.X_test, signal, compensation)
    return float(np.mean(pred == data.y_test)), report


def measure_on_chip(
    profile: DeviceProfile,
    lot_seed: int,
    k: int,
    nets: dict[str, tuple[BNN, Placement]],
    data: Dataset,
    lea: LeaDeployment,
    recalibrated: dict[str, tuple[BNN, Placement | LeaDeployment]],
    X_cal: np.ndarray,
    components: int = 0,
    compensated: dict[str, tuple[BNN, Placement | LeaDeployment, Compensation]] | None = None,
    inputs: dict[str, np.ndarray] | None = None,
    thresholds: np.ndarray | None = None,
) -> tuple[dict[str, int], dict[str, float]]:
    """Measure each network, LEA, the recalibrated and the compensated deployments on die
    ``k`` (drawn again from its seed: the same devices); wrong counts and bit error rates per
    method. ``compensated`` deployments carry their compensation, fitted as for the emulated
    columns (to the die's characterisation). ``inputs`` gives a network of ``nets`` its own first-layer test
    inputs (e.g. shared rows' expanded images) instead of ``data.X_test``. ``thresholds``:
    each device's verify threshold (S), from the die's characterisation (see
    :func:`program_bits`)."""
    wrong, ber = {}, {}
    n = data.y_test.size
    inputs = inputs or {}
    with SimulatedChip.from_lot(profile, lot_seed, k) as chip:
        for name, (net, pl) in nets.items():
            X = inputs.get(name, data.X_test)
            acc, rep = evaluate_on_chip(chip, net, pl, X, data.y_test, thresholds=thresholds)
            wrong[name] = int(round((1.0 - acc) * n))
            ber[name] = rep.bit_error_rate if rep is not None else float("nan")
        acc, rep = evaluate_lea_on_chip(chip, *lea, data.X_test, data.y_test, thresholds=thresholds)
        wrong["lea"] = int(round((1.0 - acc) * n))
        ber["lea"] = rep.bit_error_rate if rep is not None else float("nan")
        for name, (net, where) in recalibrated.items():
            acc, rep = recalibrated_accuracy_on_chip(
                chip, net, where, X_cal, data, components, thresholds
            )
            wrong[name] = int(round((1.0 - acc) * n))
            ber[name] = rep.bit_error_rate
        for name, (net, where, compensation) in (compensated or {}).items():
            acc, rep = compensated_accuracy_on_chip(
                chip, net, where, compensation, data, thresholds
            )
            wrong[name] = int(round((1.0 - acc) * n))
            ber[name] = rep.bit_error_rate
    return wrong, ber
