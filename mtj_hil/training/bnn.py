"""Binary neural network with latent real weights and a straight-through estimator.

Forward: layer ``l`` computes ``pre = gain_l * (a @ W_eff) + b_l`` where ``W_eff`` is the
*realised* weight matrix. With ideal devices ``W_eff = sign(W_latent)`` (values exactly +/-1).
A device realisation is an affine map per weight, exact for a binary choice::

    W_eff = offset + slope * sign(W_latent)

so ideal devices are ``(0, 1)``; a differential pair with one shorted device has a large
offset and slope 1/2; a pair of two defective devices has slope 0. Hidden layers apply
``tanh`` or ``sign``; the last layer's ``pre`` are the logits (softmax cross-entropy, argmax).

Backward (straight-through): ``dL/dW_latent = dL/dW_eff * slope * 1[|W_latent| <= 1]``;
latent weights are clipped to [-1, 1] after every Adam step. A ``sign`` activation uses the
hard-tanh straight-through gradient ``1[|pre| <= 1]``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from mtj_hil.training.errors import TrainingError

Activation = Literal["tanh", "sign"]
Realisation = tuple[np.ndarray, np.ndarray]
"""``(offset, slope)`` of one layer, each of shape ``(n_in, n_out)``, dimensionless."""

LayerSignal = Callable[[int, np.ndarray], np.ndarray]
"""``(layer_index, inputs (batch, n_in)) -> signal (batch, n_out)``, the crossbar output in
weight units, i.e. ``(I+ - I-) / (G_norm * V_read)``."""


def binarize_weights(latent: np.ndarray) -> np.ndarray:
    """``+1.0`` where ``latent >= 0`` else ``-1.0`` (float64)."""
    return np.where(latent >= 0.0, 1.0, -1.0)


def realise(weights: np.ndarray, realisation: Realisation | None) -> np.ndarray:
    """Effective weights for binary ``weights`` under ``realisation`` (None = ideal)."""
    if realisation is None:
        return weights
    offset, slope = realisation
    return offset + slope * weights


@dataclass
class BNN:
    """A fully connected binary network ``sizes[0] -> ... -> sizes[-1]``.

    Attributes:
        latent: real latent weights per layer, shape ``(n_in, n_out)``, in [-1, 1].
        biases: real (digital) biases per layer, shape ``(n_out,)``.
        gains: digital scale applied to each layer's crossbar signal before the bias.
        activation: hidden-layer activation, ``"tanh"`` or ``"sign"``.
    """

    latent: list[np.ndarray]
    biases: list[np.ndarray]
    gains: list[float]
    activation: Activation = "tanh"

    def __post_init__(self) -> None:
        if self.activation not in ("tanh", "sign"):
            raise TrainingError(f"activation must be 'tanh' or 'sign', got {self.activation!r}")
        if not self.latent or not len(self.latent) == len(self.biases) == len(self.gains):
            raise TrainingError("latent, biases and gains must be non-empty and equally long")
        for i, (w, b) in enumerate(zip(self.latent, self.biases, strict=True)):
            if w.ndim != 2 or b.shape != (w.shape[1],):
                raise TrainingError(f"layer {i}: weights {w.shape} and bias {b.shape} disagree")
            if i and self.latent[i - 1].shape[1] != w.shape[0]:
                raise TrainingError(
                    f"layer {i} has {w.shape[0]} inputs; previous layer gives "
                    f"{self.latent[i - 1].shape[1]}"
                )

    @classmethod
    def create(
        cls,
        sizes: Sequence[int],
        rng: np.random.Generator,
        activation: Activation = "tanh",
        gains: Sequence[float] | None = None,
        init_scale: float = 0.1,
    ) -> BNN:
        """New network with latent weights uniform in [-init_scale, init_scale], zero biases.

        ``gains`` defaults to ``1 / sqrt(n_in)`` per layer.

        Raises:
            TrainingError: fewer than two sizes or a size below 1.
        """
        sizes = [int(s) for s in sizes]
        if len(sizes) < 2 or min(sizes) < 1:
            raise TrainingError(f"sizes must list >= 2 positive layer widths, got {sizes}")
        pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
        latent = [rng.uniform(-init_scale, init_scale, size=(a, b)) for a, b in pairs]
        biases = [np.zeros(b) for _, b in pairs]
        g = [1.0 / np.sqrt(a) for a, _ in pairs] if gains is None else [float(x) for x in gains]
        return cls(latent, biases, g, activation)

    @property
    def sizes(self) -> list[int]:
        """Layer widths, inputs first."""
        return [self.latent[0].shape[0]] + [w.shape[1] for w in self.latent]

    @property
    def n_layers(self) -> int:
        """Number of weight layers."""
        return len(self.latent)

    def binary_weights(self) -> list[np.ndarray]:
        """The deployed weights, ``sign(latent)`` in {-1, +1}, per layer."""
        return [binarize_weights(w) for w in self.latent]

    def activate(self, pre: np.ndarray) -> np.ndarray:
        """Hidden-layer activation."""
        return np.tanh(pre) if self.activation == "tanh" else binarize_weights(pre)

    def forward(
        self, X: np.ndarray, realisation: Sequence[Realisation | None] | None = None
    ) -> np.ndarray:
        """Logits ``(batch, n_out)`` with weights realised per layer (None = ideal devices)."""
        weights = self.binary_weights()
        eff = [
            realise(w, None if realisation is None else realisation[i])
            for i, w in enumerate(weights)
        ]
        return self.forward_signals(X, lambda i, a: a @ eff[i])

    def forward_signals(self, X: np.ndarray, layer_signal: LayerSignal) -> np.ndarray:
        """Logits computed with each layer's crossbar signal supplied by ``layer_signal``.

        This is the seam for emulated or measured crossbars: the callable gets the layer index
        and that layer's inputs (dimensionless; drive them as ``a * V_read``) and returns the
        signal in weight units. Biases, gains and activations are applied here (digital).
        """
        a = np.asarray(X, dtype=np.float64)
        for i in range(self.n_layers):
            pre = self.gains[i] * layer_signal(i, a) + self.biases[i]
            a = self.activate(pre) if i < self.n_layers - 1 else pre
        return a

    def predict(
        self, X: np.ndarray, realisation: Sequence[Realisation | None] | None = None
    ) -> np.ndarray:
        """Class indices (argmax of the logits)."""
        return np.argmax(self.forward(X, realisation), axis=1)

    def gradients(
        self,
        X: np.ndarray,
        y: np.ndarray,
        realisation: Sequence[Realisation | None] | None = None,
        layer_signal: LayerSignal | None = None,
    ) -> tuple[float, list[np.ndarray], list[np.ndarray], np.ndarray]:
        """Mean softmax cross-entropy and its straight-through gradients.

        With ``layer_signal`` (chip in the loop) each layer's forward signal is measured
        instead of computed; the backward pass still uses the (realised) binary weights.

        Returns:
            ``(loss, grads_latent, grads_bias, grads_gain)``, gradients shaped like the
            parameters (``grads_gain`` has one entry per layer).
        """
        n = self.n_layers
        weights = self.binary_weights()
        eff, slopes = [], []
        for i, w in enumerate(weights):
            r = None if realisation is None else realisation[i]
            eff.append(realise(w, r))
            slopes.append(None if r is None else r[1])
        acts = [np.asarray(X, dtype=np.float64)]
        pres, signals = [], []
        for i in range(n):
            signals.append(acts[-1] @ eff[i] if layer_signal is None else layer_signal(i, acts[-1]))
            pre = self.gains[i] * signals[-1] + self.biases[i]
            pres.append(pre)
            if i < n - 1:
                acts.append(self.activate(pre))
        logits = pres[-1]
        shifted = logits - logits.max(axis=1, keepdims=True)
        logp = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
        rows = np.arange(y.shape[0])
        loss = float(-logp[rows, y].mean())
        d = np.exp(logp)
        d[rows, y] -= 1.0
        d /= y.shape[0]
        g_lat: list[np.ndarray] = [np.empty(0)] * n
        g_b: list[np.ndarray] = [np.empty(0)] * n
        g_gain = np.zeros(n)
        for i in range(n - 1, -1, -1):
            g_gain[i] = float(np.sum(d * signals[i]))
            g_eff = self.gains[i] * (acts[i].T @ d)
            if slopes[i] is not None:
                g_eff = g_eff * slopes[i]
            g_lat[i] = g_eff * (np.abs(self.latent[i]) <= 1.0)
            g_b[i] = d.sum(axis=0)
            if i:
                da = self.gains[i] * (d @ eff[i].T)
                if self.activation == "tanh":
                    d = da * (1.0 - acts[i] ** 2)
                else:
                    d = da * (np.abs(pres[i - 1]) <= 1.0)
        return loss, g_lat, g_b, g_gain

    def copy(self) -> BNN:
        """Deep copy."""
        return BNN(
            [w.copy() for w in self.latent],
            [b.copy() for b in self.biases],
            list(self.gains),
            self.activation,
        )

    def as_dict(self) -> dict[str, Any]:
        """JSON-serialisable form (lists of floats)."""
        return {
            "sizes": self.sizes,
            "activation": self.activation,
            "gains": self.gains,
            "latent": [w.tolist() for w in self.latent],
            "biases": [b.tolist() for b in self.biases],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> BNN:
        """Inverse of :meth:`as_dict`."""
        return cls(
            [np.asarray(w, dtype=np.float64) for w in d["latent"]],
            [np.asarray(b, dtype=np.float64) for b in d["biases"]],
            [float(g) for g in d["gains"]],
            d["activation"],
        )


MAX_EPOCHS = 10_000
"""Most epochs (passes over the training set) a researcher-facing setting accepts for one
training: ``mtj-hil train``, ``mtj-hil experiment borders``, a campaign's ``borders`` task and
their specs. Generous (mnist5k takes about 0.5 s an epoch: 10,000 epochs about 1.5 h) but
finite, so a mistyped count is refused instead of running for ever."""


@dataclass
class TrainConfig:
    """Minibatch Adam settings.

    Attributes:
        epochs: passes over the training set.
        batch_size: samples per minibatch.
        lr: Adam step size for latent weights and biases.
        lr_final: step size reached at the last epoch (cosine decay); None keeps ``lr``.
        learn_gains: also train each layer's digital gain.
        beta1, beta2, eps: Adam constants.
    """

    epochs: int = 30
    batch_size: int = 64
    lr: float = 0.01
    lr_final: float | None = 0.001
    learn_gains: bool = True
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8

    def __post_init__(self) -> None:
        if self.epochs < 1 or self.batch_size < 1 or self.lr <= 0:
            raise TrainingError(f"invalid training configuration: {self}")


@dataclass
class History:
    """Mean training loss per epoch; with model selection, the score after every epoch and
    the score of the snapshot kept."""

    loss: list[float] = field(default_factory=list)
    score: list[float] = field(default_factory=list)
    best_score: float | None = None


RealisationSampler = Callable[[], Sequence[Realisation | None] | None]
"""Called once per minibatch; returns the realisation to train through (None = ideal)."""


def fit(
    net: BNN,
    X: np.ndarray,
    y: np.ndarray,
    config: TrainConfig,
    rng: np.random.Generator,
    sampler: RealisationSampler | None = None,
    update_masks: Sequence[np.ndarray | None] | None = None,
    score: Callable[[BNN], float] | None = None,
    layer_signal: LayerSignal | None = None,
    after_step: Callable[[BNN], None] | None = None,
) -> History:
    """Train ``net`` in place with minibatch Adam through the straight-through estimator.

    Args:
        net: network to train (modified in place).
        X, y: training features ``(n, n_in)`` and labels ``(n,)``.
        config: optimiser settings.
        rng: shuffles the minibatches.
        sampler: gives the weight realisation for each minibatch (None = ideal devices).
        update_masks: per layer, 1.0 where a latent weight may change and 0.0 where it is
            frozen (e.g. its device pair is defective); None = all free.
        score: model selection, lower is better (e.g. the training error through a die
            model; never test data). Evaluated on the starting network and after every
            epoch; ``net`` ends as the best-scoring snapshot (the earliest on ties).
        layer_signal: measured forward signals (chip in the loop), see :meth:`BNN.gradients`.
        after_step: called with the network after every parameter update (e.g. to rewrite
            the devices of weights whose sign flipped).

    Raises:
        TrainingError: X and y disagree with each other or with the network.
    """
    X = np.asarray(X, dtype=np.float64)
    y = np.asarray(y, dtype=np.int64)
    if X.ndim != 2 or X.shape[1] != net.sizes[0] or y.shape != (X.shape[0],):
        raise TrainingError(
            f"X {X.shape} / y {y.shape} do not fit a network with {net.sizes[0]} inputs"
        )
    if y.size == 0 or y.min() < 0 or y.max() >= net.sizes[-1]:
        raise TrainingError(f"labels must lie in 0..{net.sizes[-1] - 1}")
    gains = np.asarray(net.gains, dtype=np.float64)
    params = net.latent + net.biases + ([gains] if config.learn_gains else [])
    masks = list(update_masks) if update_masks is not None else [None] * net.n_layers
    masks += [None] * (len(params) - net.n_layers)
    m = [np.zeros_like(p) for p in params]
    v = [np.zeros_like(p) for p in params]
    n = X.shape[0]
    step = 0
    hist = History()
    best = (score(net), net.copy()) if score is not None else None
    for epoch in range(config.epochs):
        if config.lr_final is None or config.epochs == 1:
            lr = config.lr
        else:
            c = 0.5 * (1.0 + np.cos(np.pi * epoch / (config.epochs - 1)))
            lr = config.lr_final + (config.lr - config.lr_final) * c
        order = rng.permutation(n)
        total = 0.0
        for start in range(0, n, config.batch_size):
            idx = order[start : start + config.batch_size]
            realisation = sampler() if sampler is not None else None
            loss, g_lat, g_b, g_gain = net.gradients(X[idx], y[idx], realisation, layer_signal)
            total += loss * idx.size
            step += 1
            bc1 = 1.0 - config.beta1**step
            bc2 = 1.0 - config.beta2**step
            grads = g_lat + g_b + ([g_gain] if config.learn_gains else [])
            for k, (p, g) in enumerate(zip(params, grads, strict=True)):
                m[k] *= config.beta1
                m[k] += (1.0 - config.beta1) * g
                v[k] *= config.beta2
                v[k] += (1.0 - config.beta2) * g * g
                upd = lr * (m[k] / bc1) / (np.sqrt(v[k] / bc2) + config.eps)
                if masks[k] is not None:
                    upd *= masks[k]
                p -= upd
                if k < net.n_layers:
                    np.clip(p, -1.0, 1.0, out=p)
            net.gains = gains.tolist()
            if after_step is not None:
                after_step(net)
        hist.loss.append(total / n)
        if best is not None and score is not None:
            value = score(net)
            hist.score.append(value)
            if value < best[0]:
                best = (value, net.copy())
    if best is not None:
        hist.best_score = best[0]
        for dst, src in zip(net.latent + net.biases, best[1].latent + best[1].biases, strict=True):
            dst[...] = src
        net.gains = list(best[1].gains)
    return hist
