"""The Wine experiment after Goodwill et al.: many 13-6-3 binary networks written with
write-verify onto a simulated passive 15 x 15 die and evaluated through its crossbars
(nodal solve with line resistance; half-select disturb while writing), and the same for the
NIST daffodil solutions on the same arrays. Accuracies are fractions.

The die is characterised first; the networks are trained statistics-aware against a
population fitted from that measurement (device variation as measured; the passive die's few
defects are too rare to fit a rate from one die, so they enter only as measured).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np

from mtj_hil.experiments.diemodels import fit_population, model_from_memory
from mtj_hil.experiments.goodwill_config import GoodwillConfig
from mtj_hil.experiments.onchip import chip_layer_currents, evaluate_on_chip, program_bits
from mtj_hil.protocols.characterize.procedure import MemorySink, characterize_die
from mtj_hil.protocols.chip import Pulse
from mtj_hil.protocols.defects.codes import DEFECTS
from mtj_hil.sim.chip import SimulatedChip
from mtj_hil.sim.profile import load_profile
from mtj_hil.training import daffodil
from mtj_hil.training.bnn import BNN, TrainConfig
from mtj_hil.training.datasets import Dataset, load_wine, load_wine_nist
from mtj_hil.training.die_model import PopulationModel
from mtj_hil.training.errors import DatasetError
from mtj_hil.training.evaluation import evaluate_software
from mtj_hil.training.mapping import Placement, place
from mtj_hil.training.methods import train_statistics_aware
from mtj_hil.training.reference import has_daffodil_wine

Progress = Callable[[str, int, int], None]


@dataclass
class SolutionSet:
    """Per-solution accuracies (fractions) and write fidelity of one family of networks."""

    name: str
    test: np.ndarray
    all_samples: np.ndarray
    software_test: np.ndarray
    software_all: np.ndarray
    bit_error_rate: np.ndarray

    def summary(self) -> dict[str, float]:
        """Mean, median and 5 / 25 / 75 / 95 % quantiles in percent; BER mean and max."""
        out: dict[str, float] = {"n": float(self.test.size)}
        for label, v in (("test", self.test), ("all", self.all_samples)):
            out[f"{label}_mean"] = 100 * float(v.mean())
            out[f"{label}_median"] = 100 * float(np.median(v))
            for q in (5, 25, 75, 95):
                out[f"{label}_q{q}"] = 100 * float(np.quantile(v, q / 100))
        out["software_all_median"] = 100 * float(np.median(self.software_all))
        out["ber_mean"] = float(self.bit_error_rate.mean())
        out["ber_max"] = float(self.bit_error_rate.max())
        return out


@dataclass
class GoodwillResult:
    """Outcome of the experiment."""

    config: GoodwillConfig
    dataset: str
    preprocessing: dict[str, Any]
    trained: SolutionSet
    reference: SolutionSet | None
    skipped: str
    defects: dict[str, int]
    placement: Placement
    seconds: float


def wine_data(reference: str | None) -> tuple[Dataset, str]:
    """The NIST Wine split if the reference folder is present, else scikit-learn's Wine with a
    seeded split (then the "test" figures are on that split); and a note saying which."""
    try:
        return load_wine_nist(reference), ""
    except DatasetError as exc:
        return load_wine(np.random.default_rng(0)), f"NIST split unavailable ({exc})"


def run_goodwill(config: GoodwillConfig, progress: Progress | None = None) -> GoodwillResult:
    """Run the experiment (see the module docstring).

    Raises:
        ConfigError: bad configuration (a die of any cell kind is taken; the outputs name it).
        TrainingError: the 13-6-3 network does not fit the profile's arrays.
    """
    t0 = time.perf_counter()
    report = progress or (lambda stage, done, total: None)
    data, note = wine_data(config.reference)
    profile = load_profile(config.profile)
    layout = profile.layout
    sizes = [data.n_features, 6, data.n_classes]
    placement = place(sizes, layout)
    X_all = np.vstack([data.X_train, data.X_test])
    y_all = np.concatenate([data.y_train, data.y_test])
    seeds = np.random.SeedSequence(config.seed).spawn(config.solutions)
    pulse = Pulse(config.pulse_amplitude, config.pulse_width)
    cols: dict[str, list[float]] = {k: [] for k in ("t", "a", "st", "sa", "ber")}
    with SimulatedChip.from_lot(profile, config.lot_seed, config.die) as chip:
        report("characterise", 0, 1)
        sink = MemorySink()
        characterize_die(chip, sink)
        measured = model_from_memory(layout, sink)
        population = fit_population([measured])
        thresholds = measured.state_thresholds()  # each device verified by its own levels
        report("characterise", 1, 1)
        defects = {c.name: int(np.count_nonzero(chip.die.defect == c)) for c in DEFECTS}
        for k in range(config.solutions):
            report("trained networks", k, config.solutions)
            net = train_solution(data, seeds[k], config, population, placement)
            acc_t, rep = evaluate_on_chip(
                chip, net, placement, data.X_test, data.y_test, pulse=pulse, thresholds=thresholds
            )
            acc_a, _ = evaluate_on_chip(chip, net, placement, X_all, y_all, program=False)
            cols["t"].append(acc_t)
            cols["a"].append(acc_a)
            cols["st"].append(evaluate_software(net, data.X_test, data.y_test))
            cols["sa"].append(evaluate_software(net, X_all, y_all))
            cols["ber"].append(rep.bit_error_rate if rep is not None else np.nan)
        report("trained networks", config.solutions, config.solutions)
        trained = SolutionSet(
            "trained", *(np.asarray(cols[k]) for k in ("t", "a", "st", "sa", "ber"))
        )
        ref, skipped = None, note
        if config.daffodil:
            if has_daffodil_wine(config.reference) and not note:
                ref = _daffodil_on_chip(
                    chip, placement, data, X_all, y_all, pulse, config, report, thresholds
                )
            else:
                skipped = (
                    "daffodil reference solutions skipped: no daffodil-wine data (dataset/ "
                    f"and solutions/) at {daffodil.daffodil_wine_dir(config.reference)}"
                )
    return GoodwillResult(
        config,
        data.name,
        data.preprocessing,
        trained,
        ref,
        skipped,
        defects,
        placement,
        time.perf_counter() - t0,
    )


def train_solution(
    data: Dataset,
    seed: np.random.SeedSequence,
    config: GoodwillConfig,
    population: PopulationModel,
    placement: Placement,
) -> BNN:
    """Train ``config.restarts`` statistics-aware 13-6-3 networks (die realisations drawn
    from ``population``) and keep the best on the training split."""
    best: tuple[float, BNN] | None = None
    cfg = TrainConfig(epochs=config.epochs, batch_size=16)
    for child in seed.spawn(config.restarts):
        rng = np.random.default_rng(child)
        net = train_statistics_aware(data, [6], population, placement, rng, cfg, pool_size=32).net
        score = evaluate_software(net, data.X_train, data.y_train)
        if best is None or score > best[0]:
            best = (score, net)
    assert best is not None
    return best[1]


def _daffodil_on_chip(
    chip: SimulatedChip,
    placement: Placement,
    data: Dataset,
    X_all: np.ndarray,
    y_all: np.ndarray,
    pulse: Pulse,
    config: GoodwillConfig,
    report: Progress,
    thresholds: np.ndarray | None = None,
) -> SolutionSet:
    """Write each NIST solution's bits (pairs may hold equal bits: weight 0) where
    ``placement`` puts a 13-6-3 network, verified against ``thresholds`` (S per device; None:
    the die's nominal one), and evaluate with their own forward semantics (tanh after both
    layers with their biases, G_norm = G_on - G_off) on measured currents."""
    indices = daffodil.solution_indices(config.reference)
    L = chip.layout
    cols: dict[str, list[float]] = {k: [] for k in ("t", "a", "st", "sa", "ber")}
    for n, k in enumerate(indices):
        report("daffodil solutions", n, len(indices))
        sol = daffodil.load_solution(k, config.reference)
        bits = np.zeros((L.n_arrays, L.rows, L.cols), dtype=np.uint8)
        for li, layer_bits in enumerate(sol.bits):
            di = placement.index(li)
            bits[di.array, di.row, di.plus] = layer_bits[:, 0::2]
            bits[di.array, di.row, di.minus] = layer_bits[:, 1::2]
        rep = program_bits(
            chip, bits, placement.used_mask(), placement.arrays_used(), pulse, thresholds
        )
        currents = chip_layer_currents(chip, placement, daffodil.V_READ)
        for X, y, key in ((data.X_test, data.y_test, "t"), (X_all, y_all, "a")):
            out = daffodil_forward_currents(sol, X, currents)
            cols[key].append(float(np.mean(out.argmax(axis=1) == y)))
        cols["st"].append(
            float(np.mean(daffodil.forward(sol, data.X_test).argmax(1) == data.y_test))
        )
        cols["sa"].append(float(np.mean(daffodil.forward(sol, X_all).argmax(1) == y_all)))
        cols["ber"].append(rep.bit_error_rate)
    report("daffodil solutions", len(indices), len(indices))
    return SolutionSet("daffodil", *(np.asarray(cols[k]) for k in ("t", "a", "st", "sa", "ber")))


def daffodil_forward_currents(
    solution: daffodil.DaffodilSolution,
    X: np.ndarray,
    layer_currents: Callable[[int, np.ndarray], np.ndarray],
    v_read: float = daffodil.V_READ,
    g_norm: float = daffodil.G_ON - daffodil.G_OFF,
) -> np.ndarray:
    """Output activations ``(n, n_out)`` of a daffodil solution from measured differential
    currents: ``a = tanh((I+ - I-) / (g_norm * v_read) + bias)`` for every layer."""
    a = np.asarray(X, dtype=np.float64)
    for li, bias in enumerate(solution.biases):
        a = np.tanh(layer_currents(li, a * v_read) / (g_norm * v_read) + bias)
    return a


def config_record(config: GoodwillConfig) -> dict[str, Any]:
    """JSON-serialisable configuration."""
    return asdict(config)
