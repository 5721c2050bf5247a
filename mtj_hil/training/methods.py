"""Training methods and evaluations, all over the same :mod:`bnn` code.

* :func:`train_unaware` - ideal devices.
* :func:`train_defect_aware` - one die's measured map fixed in the forward pass; weights whose
  device pair holds a defective device are frozen.
* :func:`train_defect_aware_compensated` - a defect-aware network fine-tuned further through
  what a digital correction of its costliest measured weight errors leaves of its die.
* :func:`train_statistics_aware` - a fresh die realisation from a population pool per minibatch
  (a fitted :class:`PopulationModel`, or :class:`MeasuredArrays`: measured arrays resampled,
  keeping whole-line defects and the per-array structure).
* Layer Ensemble Averaging (no retraining; copies of each layer averaged) lives in
  :mod:`mtj_hil.training.ensemble`.

Evaluation on ideal devices, emulated dies and chips lives in
:mod:`mtj_hil.training.evaluation`.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from mtj_hil.protocols.defects.detect import DefectCode
from mtj_hil.training import evaluation
from mtj_hil.training.bnn import BNN, Activation, History, Realisation, TrainConfig, fit
from mtj_hil.training.capacity import check_pool_memory
from mtj_hil.training.compensation import (
    COMPENSATION_BUDGET,
    Compensation,
    compensated_weights,
    made_ideal,
    network_statistics,
    sparse_compensation,
)
from mtj_hil.training.datasets import Dataset
from mtj_hil.training.die_model import DieModel, PopulationModel, conductance_for
from mtj_hil.training.empirical import MeasuredArrays
from mtj_hil.training.errors import TrainingError
from mtj_hil.training.evaluation import die_realisation
from mtj_hil.training.mapping import Placement, weight_response
from mtj_hil.training.sharing import InputSharing

Placer = Callable[[np.ndarray], Placement]
"""``defect codes (n_arrays, rows, cols) -> Placement``: how a die with that defect map is
placed (e.g. ``lambda codes: place_defect_aware(sizes, layout, codes, importance)``)."""
Router = Callable[[Placement, DieModel], Placement]
"""``(placement, die) -> Placement``: the placement re-routed on that die (e.g. for a
network's weights, :func:`~mtj_hil.training.matching.match_weights`)."""
Adjust = Callable[[list[Realisation]], list[Realisation]]
"""``realisation -> realisation``: what a per-die digital correction leaves of a sampled
die (e.g. :func:`~mtj_hil.training.compensation.residual_realisation`)."""


@dataclass
class TrainResult:
    """A trained network and how it was obtained."""

    net: BNN
    history: History
    method: str
    seconds: float


def _check_fit(data: Dataset, sizes: Sequence[int], placement: Placement | None) -> None:
    if sizes[0] != data.n_features or sizes[-1] != data.n_classes:
        raise TrainingError(
            f"network {list(sizes)} does not match data set {data.name} "
            f"({data.n_features} features, {data.n_classes} classes)"
        )
    if placement is not None and placement.sizes != list(sizes):
        raise TrainingError(f"placement is for {placement.sizes}, network is {list(sizes)}")


def _new_net(
    data: Dataset,
    hidden: Sequence[int],
    rng: np.random.Generator,
    activation: Activation,
    init: BNN | None,
    init_shrink: float = 1.0,
) -> BNN:
    sizes = [data.n_features, *hidden, data.n_classes]
    if init is not None:
        if init.sizes != sizes:
            raise TrainingError(f"initial network is {init.sizes}, expected {sizes}")
        if not 0.0 < init_shrink <= 1.0:
            raise TrainingError(f"init_shrink must lie in (0, 1], got {init_shrink}")
        net = init.copy()
        # same signs (the same deployed network), smaller magnitudes: a weight the die
        # wants flipped no longer has to travel from the clip at +-1 to zero first
        net.latent = [w * init_shrink for w in net.latent]
        return net
    return BNN.create(sizes, rng, activation)


def defect_masks(die: DieModel, placement: Placement) -> list[np.ndarray]:
    """Per layer, 1.0 where both devices of a weight's pair are GOOD, else 0.0.

    UNCERTAIN devices count as suspect: their weights are masked like defective ones."""
    good = die.defects == DefectCode.GOOD
    masks = []
    for li in range(len(placement.layers)):
        di = placement.index(li)
        masks.append(
            (good[di.array, di.row, di.plus] & good[di.array, di.row, di.minus]).astype(np.float64)
        )
    return masks


SCORE_ROWS = 1000
"""Training rows (evenly spaced) that model selection scores snapshots on."""


def score_rows(X: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """At most :data:`SCORE_ROWS` evenly spaced training rows (all of them if fewer)."""
    if X.shape[0] <= SCORE_ROWS:
        return X, y
    idx = np.linspace(0, X.shape[0] - 1, SCORE_ROWS).astype(np.int64)
    return X[idx], y[idx]


def mean_loss(
    net: BNN, X: np.ndarray, y: np.ndarray, realisations: Sequence[Sequence[Realisation | None]]
) -> float:
    """Mean softmax cross-entropy of ``net`` on ``(X, y)`` averaged over die realisations."""
    total = 0.0
    rows = np.arange(y.shape[0])
    for real in realisations:
        logits = net.forward(X, real)
        shifted = logits - logits.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        total += float(-logp[rows, y].mean())
    return total / max(len(realisations), 1)


def train_unaware(
    data: Dataset,
    hidden: Sequence[int],
    rng: np.random.Generator,
    config: TrainConfig | None = None,
    activation: Activation = "tanh",
) -> TrainResult:
    """Train with ideal devices (weights exactly +/-1)."""
    t0 = time.perf_counter()
    net = _new_net(data, hidden, rng, activation, None)
    hist = fit(net, data.X_train, data.y_train, config or TrainConfig(), rng)
    return TrainResult(net, hist, "unaware", time.perf_counter() - t0)


def train_defect_aware(
    data: Dataset,
    hidden: Sequence[int],
    die: DieModel,
    placement: Placement,
    rng: np.random.Generator,
    config: TrainConfig | None = None,
    activation: Activation = "tanh",
    init: BNN | None = None,
    freeze_defective: bool = True,
    select: bool = False,
    init_shrink: float = 1.0,
    sharing: InputSharing | None = None,
    realisation: Sequence[Realisation] | None = None,
) -> TrainResult:
    """Train through one die's measured conductances (fixed map, no read noise).

    Defective devices show their measured conductance whatever the bit; with
    ``freeze_defective`` the latent weights of pairs holding a defective device are not
    updated, else their gradient flows through the pair's working device (a pair of two
    defective devices has slope 0 and gets none). ``init`` (e.g. an unaware network) is
    copied and fine-tuned; else training starts fresh. With ``select`` the network kept is
    the snapshot (start or any epoch end) with the lowest loss over every training row
    through the die, so fine-tuning never returns a network worse on the training set than
    ``init``. Every row, not :func:`score_rows`' 1000 (one realisation: cheap): held out
    20 % (12 dies x 3 seeds, together with a step of 0.02 from unshrunk latents) it
    chose better networks on 1t1r-20k and 1t1r-early-process alike.
    ``init_shrink`` (0 < s <= 1) scales ``init``'s latent weights first: the same binary
    network, but weights can flip within a short fine-tuning (latents trained long sit at
    the clip, +-1, and barely move at a small step size).
    With ``sharing`` the placement holds ``sharing.physical(net)`` (its first layer's rows
    carry the inputs ``sharing`` says) and the network is trained through the realisation
    that gives (:meth:`InputSharing.logical`); deploy ``sharing.physical`` of the result on
    ``sharing.expand``-ed inputs.
    With ``realisation`` (per layer ``(offset, slope)`` of the weights at ``placement``, e.g.
    :func:`~mtj_hil.training.compensation.made_ideal` of the die's: what a digital
    compensation leaves of it) the network is trained through that instead of the die's
    measured one.

    Raises:
        TrainingError: network, data set, placement and die disagree, ``init_shrink``
            outside (0, 1], ``sharing`` with ``freeze_defective`` or ``realisation``, or a
            ``realisation`` not shaped like the network's layers.
    """
    t0 = time.perf_counter()
    net = _new_net(data, hidden, rng, activation, init, init_shrink)
    _check_fit(data, net.sizes, placement)
    if sharing is not None and freeze_defective:
        raise TrainingError("freeze_defective does not combine with input sharing")
    if realisation is None:
        real = die_realisation(die, placement)
    elif sharing is not None:
        raise TrainingError("a given realisation does not combine with input sharing")
    elif [np.shape(o) for o, _ in realisation] != [w.shape for w in net.latent]:
        raise TrainingError(f"the realisation does not fit a network of {net.sizes}")
    else:
        real = list(realisation)
    if sharing is not None:
        real = sharing.logical(real)
    masks = defect_masks(die, placement) if freeze_defective else None
    X, y = data.X_train, data.y_train
    hist = fit(
        net,
        X,
        y,
        config or TrainConfig(),
        rng,
        sampler=lambda: real,
        update_masks=masks,
        score=(lambda n: mean_loss(n, X, y, [real])) if select else None,
    )
    return TrainResult(net, hist, "defect-aware", time.perf_counter() - t0)


def train_defect_aware_compensated(
    data: Dataset,
    hidden: Sequence[int],
    die: DieModel,
    placement: Placement,
    rng: np.random.Generator,
    config: TrainConfig,
    init: BNN,
    budget: float = COMPENSATION_BUDGET,
    activation: Activation = "tanh",
    select: bool = False,
    init_shrink: float = 1.0,
) -> tuple[TrainResult, Compensation]:
    """``init``, a network fine-tuned defect-aware on ``die`` at ``placement``, fine-tuned
    further (``config``, e.g.
    :data:`~mtj_hil.training.compensation.COMPENSATION_EPOCHS` epochs) for a digital
    compensation: the ``budget`` fraction of its weights whose measured error costs it most
    on this die is chosen (:func:`~mtj_hil.training.compensation.compensated_weights`, by
    its saliency over the training data) and the network is trained through what correcting
    those leaves of the die (:func:`~mtj_hil.training.compensation.made_ideal`; every pair's
    gradient flows, defective or not). ``select`` and ``init_shrink`` as in
    :func:`train_defect_aware`.

    Returns:
        The network and its compensation: the chosen weights' measured errors corrected
        digitally, scale 1 and shift 0 (the fine-tuning has fitted the rest into its weights
        and biases; :func:`~mtj_hil.training.compensation.sparse_compensation`). Deploy the
        network at ``placement`` with that compensation
        (:func:`~mtj_hil.training.compensation.predict_compensated`): one digital
        multiply-add per corrected weight per input.

    Raises:
        TrainingError: as :func:`train_defect_aware`, or ``budget`` outside [0, 1].
    """
    real = die_realisation(die, placement)
    stats = network_statistics(init, data.X_train, data.y_train)
    chosen = compensated_weights(init, real, stats, budget)
    result = train_defect_aware(
        data,
        hidden,
        die,
        placement,
        rng,
        config,
        activation,
        init=init,
        freeze_defective=False,
        select=select,
        init_shrink=init_shrink,
        realisation=made_ideal(real, chosen),
    )
    result.method = "defect-aware-compensated"
    return result, sparse_compensation(result.net, real, chosen)


def realisation_pool(
    population: PopulationModel | MeasuredArrays,
    placement: Placement,
    rng: np.random.Generator,
    size: int,
    placer: Placer | None = None,
    router: Router | None = None,
    adjust: Adjust | None = None,
) -> list[tuple[np.ndarray, np.ndarray]]:
    """``size`` sampled dies as per-layer stacked ``(offset, slope)``, each
    ``(size, n_in, n_out)`` in logical weight coordinates; sampled in chunks to bound memory.

    Without ``placer`` every sampled die is read through ``placement``. With ``placer``
    each sampled die is placed the way a real die with that defect map will be placed
    (``placer(codes)``), so the realisations carry the defects that survive placement;
    with ``router`` too, each placement is then re-routed on the sampled die
    (``router(placed, die)``, e.g. for the network's weights) as a real die will be; with
    ``adjust`` too, each placed die's realisation is replaced by ``adjust(realisation)``
    (what a per-die correction will leave of it).

    Raises:
        TrainingError: the pool needs more memory than is free (before anything is drawn).
    """
    check_pool_memory(placement.sizes, size)
    chunks: list[list[tuple[np.ndarray, np.ndarray]]] = []
    for start in range(0, size, 32):
        n = min(32, size - start)
        if placer is None:
            g1, g0 = population.pool(rng, n)
            chunks.append(weight_response(placement, g1, g0))
            continue
        g_p, g_ap, codes = population.sample(rng, n)
        ones = np.ones(codes.shape[1:], dtype=bool)
        per_die = []
        for k in range(n):
            g1 = conductance_for(g_p[k], g_ap[k], codes[k], ones)
            g0 = conductance_for(g_p[k], g_ap[k], codes[k], ~ones)
            placed = placer(codes[k])
            if router is not None:
                placed = router(placed, DieModel(population.layout, g_p[k], g_ap[k], codes[k]))
            if placed.sizes != placement.sizes or placed.layout != placement.layout:
                raise TrainingError("the placer places another network or layout")
            real = weight_response(placed, g1, g0)
            per_die.append(real if adjust is None else adjust(real))
        chunks.append(
            [
                (np.stack([r[li][0] for r in per_die]), np.stack([r[li][1] for r in per_die]))
                for li in range(len(placement.layers))
            ]
        )
    return [
        (np.concatenate([c[li][0] for c in chunks]), np.concatenate([c[li][1] for c in chunks]))
        for li in range(len(placement.layers))
    ]


def adjust_pool(
    pool: Sequence[tuple[np.ndarray, np.ndarray]], adjust: Adjust
) -> list[tuple[np.ndarray, np.ndarray]]:
    """A :func:`realisation_pool` with every sampled die's realisation replaced by
    ``adjust(realisation)`` (as ``realisation_pool(..., adjust=adjust)`` would have drawn it
    from the same random numbers)."""
    n = pool[0][0].shape[0]
    per_die = [adjust([(off[k], sl[k]) for off, sl in pool]) for k in range(n)]
    return [
        (np.stack([r[li][0] for r in per_die]), np.stack([r[li][1] for r in per_die]))
        for li in range(len(pool))
    ]


def train_statistics_aware(
    data: Dataset,
    hidden: Sequence[int],
    population: PopulationModel | MeasuredArrays,
    placement: Placement,
    rng: np.random.Generator,
    config: TrainConfig | None = None,
    activation: Activation = "tanh",
    pool_size: int = 64,
    init: BNN | None = None,
    placer: Placer | None = None,
    select: int = 0,
    init_shrink: float = 1.0,
    router: Router | None = None,
    adjust: Adjust | None = None,
    pool: Sequence[tuple[np.ndarray, np.ndarray]] | None = None,
) -> TrainResult:
    """Train with a fresh die realisation (variation + defects) drawn from a pre-generated pool
    of ``pool_size`` realisations for every minibatch.

    ``placer`` says how each die will be placed (see :func:`realisation_pool`); without it
    every die is assumed to use ``placement``. Evaluate the network the same way: with
    ``placer(die.defects)`` if a placer was given (re-routed by ``router`` if given, see
    :func:`realisation_pool`), else with ``placement``. The realisations are routed once,
    for the starting network: re-routing them for the network in training every 5 epochs
    measured worse on held-out data (1t1r-20k, 12 dies x 2 seeds, 20 % held out: +1.00 pt
    to software against +0.71), and routing the selection realisations for each snapshot
    scored gained nothing (+0.72) at 3 s per network.

    With ``select > 0``, that many further realisations (not used for training) score every
    epoch's network by its mean training loss over them (on :func:`score_rows`); the best
    snapshot (the start
    included) is kept. ``init_shrink`` scales ``init``'s latent weights as in
    :func:`train_defect_aware`. ``adjust`` trains (and selects) against what a per-die
    correction leaves of each sampled die (see :func:`realisation_pool`). ``pool`` gives
    the ``pool_size + select`` realisations already drawn (:func:`realisation_pool` with
    the same placement, ``placer``, ``router`` and ``adjust``; nothing is drawn then), so
    two trainings can share one pool's placing and routing (with ``init``, drawing the pool
    from ``rng`` first gives the same network: a fresh network draws its weights first).

    Raises:
        TrainingError: network, data set, placement and population disagree.
    """
    t0 = time.perf_counter()
    net = _new_net(data, hidden, rng, activation, init, init_shrink)
    _check_fit(data, net.sizes, placement)
    if population.layout != placement.layout:
        raise TrainingError("population and placement use different layouts")
    if pool_size < 1 or select < 0:
        raise TrainingError(f"pool_size must be >= 1 and select >= 0, got {pool_size}, {select}")
    if pool is None:
        pool = realisation_pool(
            population, placement, rng, pool_size + select, placer, router, adjust
        )
    elif len(pool) != net.n_layers or any(
        off.shape != (pool_size + select, *w.shape) or sl.shape != off.shape
        for (off, sl), w in zip(pool, net.latent, strict=True)
    ):
        raise TrainingError(
            f"the given pool does not hold {pool_size + select} realisations of {net.sizes}"
        )
    held = [[(off[k], sl[k]) for off, sl in pool] for k in range(pool_size, pool_size + select)]

    def sampler() -> list[Realisation]:
        k = int(rng.integers(pool_size))
        return [(off[k], sl[k]) for off, sl in pool]

    X, y = data.X_train, data.y_train
    score = (lambda n: mean_loss(n, *score_rows(X, y), held)) if select else None
    hist = fit(net, X, y, config or TrainConfig(), rng, sampler=sampler, score=score)
    return TrainResult(net, hist, "statistics-aware", time.perf_counter() - t0)


_MOVED_TO_EVALUATION = frozenset(
    {
        "V_READ",
        "ArrayRead",
        "LayerCurrents",
        "accuracy",
        "evaluate_software",
        "evaluate_emulated",
        "predict_emulated",
        "emulated_read",
        "crossbar_layer_currents",
        "forward_currents",
    }
)


def __getattr__(name: str) -> object:
    """The evaluation names this module held before :mod:`mtj_hil.training.evaluation` took
    them, still importable from here (scripts written against the old module keep running)."""
    if name in _MOVED_TO_EVALUATION:
        return getattr(evaluation, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
